"""Corpus text -> one long token-id stream -> ``[B, N]`` columns -> BPTT windows.

Word level: every line is split on whitespace and ends with ``<eos>`` (the PTB / PyTorch
word_language_model convention). Char level: the raw file text is the stream (newlines are
characters). Byte level: the UTF-8 bytes of the file.

Data order is fixed (no shuffling): stateful truncated BPTT reads each of the ``B`` columns
front to back, which also makes ``--resume`` exact.
"""
from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import torch

from rnnscope.errors import CorpusError
from rnnscope.vocab import Vocabulary


def read_raw(path: str | Path) -> str:
    """The whole text of ``path`` (``.gz`` read transparently); CorpusError if missing/empty."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"corpus file not found: {p}")
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rt", encoding="utf-8", newline="") as fh:
            text = fh.read()
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise CorpusError(f"{p}: cannot read as UTF-8 text ({exc})") from None
    if not text.strip():
        raise CorpusError(f"{p}: corpus is empty")
    return text


def split_text(text: str, fraction: float) -> tuple[str, str]:
    """Split off the last ``fraction`` of ``text`` (at a line boundary when there is one)."""
    if not 0.0 < fraction < 1.0:
        raise CorpusError(f"valid fraction must be in (0, 1), got {fraction}")
    cut = int(len(text) * (1.0 - fraction))
    newline = text.rfind("\n", 0, cut)
    if newline > 0:
        cut = newline + 1
    head, tail = text[:cut], text[cut:]
    if not head.strip() or not tail.strip():
        raise CorpusError("corpus too small to split off a validation part")
    return head, tail


def build_vocab(kind: str, text: str, max_size: int | None = None,
                min_count: int = 1) -> Vocabulary:
    """The vocabulary of a training text, most frequent first (``max_size`` counts ``<unk>``
    and ``<eos>``; ``min_count`` drops units seen fewer times)."""
    lines = text.splitlines() if kind == "word" else [text]
    return Vocabulary.build(kind, lines, max_size=max_size, min_freq=min_count)


def encode_text(text: str, vocab: Vocabulary, source: str = "corpus") -> torch.Tensor:
    """The id stream of ``text`` at the vocabulary's level (word lines end with ``<eos>``)."""
    if vocab.kind == "word":
        ids: list[int] = []
        for line in text.splitlines():
            ids.extend(vocab.encode(line.split()))
            ids.append(vocab.eos_id)
    else:
        ids = vocab.encode(vocab.units(text))
    if len(ids) < 2:
        raise CorpusError(f"{source}: fewer than 2 tokens, nothing to model")
    return torch.tensor(ids, dtype=torch.long)


def batchify(stream: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut ``stream`` into ``batch_size`` contiguous rows ``[B, N]`` (the tail is dropped)."""
    n = stream.numel() // batch_size
    if n < 2:
        raise CorpusError(f"corpus of {stream.numel()} tokens is too short for batch size {batch_size}")
    return stream[: n * batch_size].view(batch_size, n).contiguous()


def num_windows(data: torch.Tensor, bptt: int) -> int:
    """How many BPTT windows :func:`windows` yields for ``data [B, N]``."""
    return (data.shape[1] - 1 + bptt - 1) // bptt


def windows(data: torch.Tensor, bptt: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(inputs [B, T], targets [B, T])`` windows over ``data``, from window index ``start``."""
    for i in range(start * bptt, data.shape[1] - 1, bptt):
        t = min(bptt, data.shape[1] - 1 - i)
        yield data[:, i:i + t], data[:, i + 1:i + 1 + t]
