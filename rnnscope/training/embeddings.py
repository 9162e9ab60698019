"""Initialise a model's embedding from a word2vec text-format file.

Format: an optional header line ``"N D"``, then one ``word v1 ... vD`` line per word. Only the
vectors of words in the vocabulary are kept (the file is streamed), words missing from the file
keep their random initialisation, and the coverage is reported so users see how much of the
vocabulary was actually pretrained (seeds 000 and 003 compare pretrained and joint embeddings).
"""
from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary


@dataclass
class EmbeddingCoverage:
    """How many vocabulary entries got a pretrained vector (``found`` of ``total``)."""

    found: int
    total: int
    dim: int
    path: str

    @property
    def fraction(self) -> float:
        return self.found / self.total if self.total else 0.0

    def __str__(self) -> str:
        return (f"embeddings: {self.found:,} of {self.total:,} vocabulary entries found in "
                f"{self.path} ({100 * self.fraction:.1f}%), dim {self.dim}")


def read_word2vec_text(path: str | Path, wanted: set[str] | None = None) -> tuple[dict[str, torch.Tensor], int]:
    """``({word: vector}, dim)`` from a word2vec text file, keeping ``wanted`` words (any case)."""
    p = Path(path)
    if not p.is_file():
        raise RnnscopeError(f"embedding file not found: {p}")
    opener = gzip.open if p.suffix == ".gz" else open
    vectors: dict[str, torch.Tensor] = {}
    dim = None
    with opener(p, "rt", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.rstrip().split(" ")
            if lineno == 1 and len(parts) == 2 and all(x.isdigit() for x in parts):
                dim = int(parts[1])
                continue
            if len(parts) < 2:
                continue
            word, values = parts[0], parts[1:]
            if dim is None:
                dim = len(values)
            if len(values) != dim:
                raise RnnscopeError(f"{p}:{lineno}: expected {dim} values, found {len(values)}")
            if wanted is not None and word not in wanted and word.lower() not in wanted:
                continue
            try:
                vectors[word] = torch.tensor([float(v) for v in values])
            except ValueError:
                raise RnnscopeError(f"{p}:{lineno}: not a number in the vector of {word!r}") from None
    if dim is None:
        raise RnnscopeError(f"{p}: no vectors found")
    return vectors, dim


def word2vec_dim(path: str | Path) -> int:
    """The vector size of a word2vec text file (from its header or first vector line)."""
    p = Path(path)
    if not p.is_file():
        raise RnnscopeError(f"embedding file not found: {p}")
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8", errors="replace") as fh:
        first = fh.readline().split()
    if len(first) == 2 and all(x.isdigit() for x in first):
        return int(first[1])
    if len(first) < 2:
        raise RnnscopeError(f"{p}: not a word2vec text file")
    return len(first) - 1


def init_embeddings(embedding: torch.nn.Embedding, vocab: Vocabulary, path: str | Path,
                    freeze: bool = False) -> EmbeddingCoverage:
    """Copy pretrained vectors into ``embedding`` rows (exact word, else case-insensitive match)."""
    wanted = set(vocab.itos) | {w.lower() for w in vocab.itos}
    vectors, dim = read_word2vec_text(path, wanted)
    lowered: dict[str, torch.Tensor] = {}
    for word, vec in vectors.items():
        lowered.setdefault(word.lower(), vec)
    if dim != embedding.embedding_dim:
        raise RnnscopeError(f"{path}: vectors have dimension {dim} but the model embedding has "
                            f"{embedding.embedding_dim} (set --emb {dim})")
    found = 0
    with torch.no_grad():
        for idx, word in enumerate(vocab.itos):
            vec = vectors.get(word)
            if vec is None:
                vec = lowered.get(word.lower())
            if vec is not None:
                embedding.weight[idx] = vec
                found += 1
    embedding.weight.requires_grad_(not freeze)
    return EmbeddingCoverage(found=found, total=len(vocab), dim=dim, path=str(path))
