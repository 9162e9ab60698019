"""The synthetic "A B B ... B C A A ... A D C ..." dataset of seed 003 (section 4.2.1, appendix 8).

A *cycle* is one new random token followed by 15 repetitions of the new token of the previous
cycle: ``A B*15 | C A*15 | D C*15 | ...``. The new token differs from the two tokens of the
previous cycle, so it is one of ``vocab_size - 2`` equally likely choices and the only
unpredictable token of a cycle. A line has 5-10 cycles (uniform) and ends with the
end-of-sentence token; the dependencies run across lines (the last new token of a line is
repeated at the start of the next). Files are word-level text, one line per line, without an
explicit ``<eos>`` (the training reader appends one per line).

The roles the LDA probes need (token id, "new token", count within the cycle) follow from the
text alone, see :func:`roles`: every line is a whole number of 16-token cycles.

>>> round(theoretical_perplexity(), 4)
1.1375
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rnnscope.errors import CorpusError, RnnscopeError

EOS_LABEL = "EOS"


def token_names(vocab_size: int = 10) -> list[str]:
    """The token strings: ``A``, ``B``, ... (then ``T10``, ``T11`` ... beyond 26)."""
    return [chr(ord("A") + k) if k < 26 else f"T{k}" for k in range(vocab_size)]


def theoretical_perplexity(vocab_size: int = 10, repeats: int = 15, min_cycles: int = 5,
                           max_cycles: int = 10) -> float:
    """The seed's appendix formula: the mean over line lengths of each line's perplexity.

    A line of ``n`` cycles has ``n (repeats + 1) + 1`` tokens of which ``n`` are new random
    tokens (probability ``1 / (vocab_size - 2)`` each), everything else is certain:
    ``PPL(l_n) = (vocab_size - 2) ** (n / (n (repeats + 1) + 1))``; n is uniform in
    ``[min_cycles, max_cycles]``. 1.1375 for the defaults.
    """
    _check(vocab_size, repeats, min_cycles, max_cycles)
    ns = np.arange(min_cycles, max_cycles + 1)
    return float(np.mean((vocab_size - 2.0) ** (ns / (ns * (repeats + 1) + 1))))


def token_perplexity_floor(vocab_size: int = 10, repeats: int = 15, min_cycles: int = 5,
                           max_cycles: int = 10) -> float:
    """The per-token perplexity of an ideal model on a long stream (geometric over tokens).

    ``exp(E[n] ln(vocab_size - 2) / E[n (repeats + 1) + 1])``: 1.1376 for the defaults, a hair
    above the appendix's mean of per-line perplexities.
    """
    _check(vocab_size, repeats, min_cycles, max_cycles)
    mean_n = (min_cycles + max_cycles) / 2
    return float(np.exp(mean_n * np.log(vocab_size - 2.0) / (mean_n * (repeats + 1) + 1)))


def exact_perplexity_floor(vocab_size: int = 10, repeats: int = 15, min_cycles: int = 5,
                           max_cycles: int = 10) -> float:
    """The true per-token perplexity floor, counting the uncertainty of where a line ends.

    The appendix formula treats ``<eos>`` as certain. It is not: after cycle ``k >= min_cycles``
    the line ends with probability ``1 / (max_cycles - k + 1)``, and otherwise a new token
    follows with probability ``(1 - that) / (vocab_size - 2)``. 1.1545 for the defaults.
    """
    _check(vocab_size, repeats, min_cycles, max_cycles)
    span = max_cycles - min_cycles + 1
    nats = tokens = 0.0
    for n in range(min_cycles, max_cycles + 1):
        hazard = [1.0 / (max_cycles - k + 1) for k in range(min_cycles, n + 1)]
        cost = n * np.log(vocab_size - 2.0) - sum(np.log(1 - h) for h in hazard[:-1]) - np.log(hazard[-1])
        nats += cost / span
        tokens += (n * (repeats + 1) + 1) / span
    return float(np.exp(nats / tokens))


def _check(vocab_size, repeats, min_cycles, max_cycles) -> None:
    if vocab_size < 3:
        raise RnnscopeError(f"the synthetic vocabulary needs at least 3 tokens, got {vocab_size}")
    if repeats < 1 or not 1 <= min_cycles <= max_cycles:
        raise RnnscopeError(f"bad synthetic settings: repeats={repeats}, cycles {min_cycles}-{max_cycles}")


def generate(n_tokens: int, vocab_size: int = 10, repeats: int = 15, min_cycles: int = 5,
             max_cycles: int = 10, seed: int = 0) -> list[list[str]]:
    """Lines of the dataset (lists of token strings, no EOS) until at least ``n_tokens`` tokens
    (counting one EOS per line) have been produced."""
    _check(vocab_size, repeats, min_cycles, max_cycles)
    rng = np.random.default_rng(seed)
    names = token_names(vocab_size)
    new = int(rng.integers(vocab_size))
    rep = int(rng.choice([k for k in range(vocab_size) if k != new]))  # first cycle: B != A
    lines, total = [], 0
    while total < n_tokens:
        line = []
        for _ in range(int(rng.integers(min_cycles, max_cycles + 1))):
            line.append(names[new])
            line.extend([names[rep]] * repeats)
            choices = [k for k in range(vocab_size) if k not in (new, rep)]
            new, rep = int(rng.choice(choices)), new
        lines.append(line)
        total += len(line) + 1
    return lines


def roles(lines: list[list[str]], repeats: int = 15, eos: str = "<eos>") -> pd.DataFrame:
    """One row per model input (tokens and one EOS per line): ``line``, ``position``, ``token``,
    ``new`` (``"1"`` new random token, ``"0"`` repetition, ``"EOS"``) and ``count`` (``"0"`` for the
    new token, ``"1"``..``"15"`` along the repetitions, ``"EOS"``)."""
    cyc = repeats + 1
    rows_line, rows_pos, tok, new, count = [], [], [], [], []
    for i, line in enumerate(lines):
        if len(line) % cyc:
            raise CorpusError(f"line {i + 1}: {len(line)} tokens is not a whole number of {cyc}-token cycles")
        for k, w in enumerate(line):
            rows_line.append(i)
            rows_pos.append(k)
            tok.append(w)
            new.append("1" if k % cyc == 0 else "0")
            count.append(str(k % cyc))
        rows_line.append(i)
        rows_pos.append(len(line))
        tok.append(eos)
        new.append(EOS_LABEL)
        count.append(EOS_LABEL)
    return pd.DataFrame({"line": rows_line, "position": rows_pos, "token": tok, "new": new, "count": count})


def ideal_perplexity(lines: list[list[str]], vocab_size: int = 10, repeats: int = 15) -> float:
    """Per-token perplexity of the ideal predictor on ``lines`` (the very first cycle counted as
    predictable too): only new tokens cost ``ln(vocab_size - 2)``."""
    n_new = sum(len(line) // (repeats + 1) for line in lines)
    n_tok = sum(len(line) + 1 for line in lines)
    return float(np.exp(n_new * np.log(vocab_size - 2.0) / n_tok))


def write_splits(out: str | Path, train_tokens: int = 1_000_000, valid_tokens: int = 50_000,
                 test_tokens: int = 50_000, seed: int = 0, **settings) -> dict[str, Path]:
    """Write ``train.txt``, ``valid.txt``, ``test.txt`` (one dataset line per text line) to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for k, (split, n) in enumerate((("train", train_tokens), ("valid", valid_tokens), ("test", test_tokens))):
        if n < 1:
            raise RnnscopeError(f"{split} size must be positive, got {n}")
        lines = generate(n, seed=seed * 1000 + k, **settings)
        p = out / f"{split}.txt"
        p.write_text("".join(" ".join(line) + "\n" for line in lines))
        paths[split] = p
    return paths


def read_lines(path: str | Path) -> list[list[str]]:
    """Token lines of a synthetic text file (CorpusError if missing or empty)."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"synthetic data file not found: {p}")
    lines = [ln.split() for ln in p.read_text().splitlines() if ln.strip()]
    if not lines:
        raise CorpusError(f"{p}: no lines")
    return lines
