"""A tidy overview of a corpus: size and, per annotation column, its most frequent values.

Used by ``rnnscope corpus-info`` and handy in a notebook before choosing what to probe for.
FEATS dicts are flattened to one column per feature (``Number``, ``Tense``...), as in the
activation store's token table; numeric columns (position, depth, frequency...) are summarised
by min / mean / max instead of top values.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pandas as pd

from rnnscope.corpus.types import Corpus


@dataclass
class CorpusSummary:
    """Size of a corpus and a per-column table (``.table``: column, kind, n, distinct, top)."""

    name: str
    sentences: int
    words: int
    types: int
    max_length: int
    table: pd.DataFrame

    def format(self) -> str:
        """Human-readable multi-line report."""
        mean = self.words / max(self.sentences, 1)
        lines = [f"corpus: {self.name}",
                 f"sentences: {self.sentences:,}",
                 f"words: {self.words:,} ({self.types:,} types; {mean:.1f} per sentence, "
                 f"longest {self.max_length:,})"]
        if self.table.empty:
            lines.append("annotation columns: none")
            return "\n".join(lines)
        lines.append("annotation columns:")
        width = max(len(c) for c in self.table["column"])
        for row in self.table.itertuples():
            lines.append(f"  {row.column:<{width}}  {row.n:>9,} tagged  {row.distinct:>6,} values  {row.top}")
        return "\n".join(lines)


def summarize_corpus(corpus: Corpus, top: int = 5) -> CorpusSummary:
    """Count sentences, words, word types and the values of every annotation column."""
    rows = []
    for column, values in _columns(corpus).items():
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            s = pd.Series(present, dtype=float)
            top_text = f"min {s.min():g}  mean {s.mean():.3g}  max {s.max():g}"
            kind = "numeric"
            distinct = int(s.nunique())
        else:
            counts = Counter(str(v) for v in present)
            total = sum(counts.values()) or 1
            top_text = ", ".join(f"{v} {n / total:.1%}" for v, n in counts.most_common(top))
            kind = "categorical"
            distinct = len(counts)
        rows.append({"column": column, "kind": kind, "n": len(present), "distinct": distinct,
                     "top": top_text})
    table = pd.DataFrame(rows, columns=["column", "kind", "n", "distinct", "top"])
    types = len({w for s in corpus for w in s.words})
    return CorpusSummary(name=corpus.name, sentences=len(corpus), words=corpus.n_words, types=types,
                         max_length=max((len(s) for s in corpus), default=0), table=table)


def _columns(corpus: Corpus) -> dict[str, list]:
    """All per-word values of each column; ``feats`` flattened into one column per key."""
    out: dict[str, list] = {}
    feat_keys: dict[str, dict[str, None]] = {}   # feats column -> its keys, first-seen order
    for s in corpus:
        for name, values in s.annotations.items():
            if name == "feats" or name.endswith("_feats"):
                keys = feat_keys.setdefault(name, {})
                for d in values:
                    keys.update(dict.fromkeys(d or {}))
            else:
                out.setdefault(name, []).extend(values)
    for name, keys in feat_keys.items():
        prefix = name[: -len("feats")]
        for key in keys:
            col = out.setdefault(prefix + key, [])
            for s in corpus:
                col.extend((d or {}).get(key) for d in s.annotations.get(name, []))
    return out


@dataclass
class Coverage:
    """How a vocabulary reads a corpus: units, unknown units, separators."""

    kind: str
    units: int
    unknown: int
    separators: int
    top_unknown: list[tuple[str, int]]

    @property
    def unknown_rate(self) -> float:
        return self.unknown / max(self.units, 1)

    def format(self) -> str:
        lines = [f"{self.kind} vocabulary: {self.units:,} units ({self.separators:,} separators), "
                 f"{self.unknown:,} unknown ({self.unknown_rate:.2%})"]
        if self.top_unknown:
            lines.append("  most frequent unknown: "
                         + ", ".join(f"{u!r} {n:,}" for u, n in self.top_unknown))
        return "\n".join(lines)


def vocabulary_coverage(corpus: Corpus, vocab, top: int = 5) -> Coverage:
    """Align ``corpus`` to ``vocab`` and count units that map to ``<unk>``.

    A word model trained on lowercased PTB reads capitalised UD words as ``<unk>``: check this
    before trusting word-level results on another corpus.
    """
    from rnnscope.corpus.align import align_corpus
    unknown: Counter[str] = Counter()
    units = separators = 0
    for a in align_corpus(corpus, vocab):
        units += len(a.units)
        separators += sum(1 for w in a.word_of_unit if w < 0)
        unknown.update(u for u, i in zip(a.units, a.ids) if i == vocab.unk_id)
    return Coverage(kind=vocab.kind, units=units, unknown=sum(unknown.values()),
                    separators=separators, top_unknown=unknown.most_common(top))
