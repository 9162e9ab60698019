"""What every report section reads (model, vocabulary, corpus, store, chosen units) and writes
(notes for the neuron cards).

The sections share one extraction: :attr:`ReportContext.values` (the analysed key over the
first ``max_rows`` rows) and :attr:`ReportContext.sample`, an in-memory store of every key on
a seeded random sample of whole sentences (about ``sample_rows`` rows) that the sections which
fit models or rank every unit (correlations, probes, concept neurons) read instead of the whole
store, so the report stays fast on a large corpus.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnnscope.analysis.match import sentence_bounds
from rnnscope.errors import StoreError
from rnnscope.keys import parse_key


class Skip(Exception):
    """A section that does not apply to these inputs; the message says why."""


class SampleStore:
    """Whole sentences of a store held in memory: every key on ``rows`` (sorted row indices of
    complete sentences), with the token table re-indexed from 0.

    It answers what the analyses read from an :class:`~rnnscope.store.ActivationStore`
    (``keys``, ``tokens``, ``get``, ``[key].shape``, ``iter_chunks``, ``meta``, ``len``), so
    ``probe``, ``concepts`` and ``correlate`` run on it unchanged.
    """

    def __init__(self, store, rows: np.ndarray, n_sentences: int):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.n_sentences = int(n_sentences)
        self.source = store
        self._keys = list(store.keys())
        self._arrays = {k: store.get(k, self.rows) for k in self._keys}
        self._tokens = store.tokens.iloc[self.rows].reset_index(drop=True)
        self._meta = dict(getattr(store, "meta", {}) or {}, n_rows=len(self.rows))

    @property
    def path(self) -> str:
        return f"sample of {getattr(self.source, 'path', 'the store')}"

    @property
    def meta(self) -> dict:
        return self._meta

    def keys(self) -> list[str]:
        return list(self._keys)

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def tokens(self) -> pd.DataFrame:
        return self._tokens

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            raise StoreError(f"{self.path} has no {key!r}; it holds {', '.join(self._keys)}")
        return self._arrays[key]

    def get(self, key: str, rows=None) -> np.ndarray:
        arr = self[key]
        if rows is None:
            return arr
        if isinstance(rows, slice):
            return arr[rows]
        idx = np.asarray(rows)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return arr[idx.astype(np.int64).ravel()]

    def iter_chunks(self, key: str):
        yield 0, self[key]

    def width(self, key: str) -> int:
        return int(self[key].shape[1])


def sample_sentences(tokens: pd.DataFrame, n_rows: int, seed: int = 0) -> tuple[np.ndarray, int]:
    """Rows of a seeded random set of whole sentences totalling at least ``n_rows`` rows (all
    rows if the table is smaller), in corpus order, and how many sentences they are."""
    bounds = sentence_bounds(tokens)
    n_sent = len(bounds) - 1
    if len(tokens) <= n_rows or n_sent <= 1:
        return np.arange(len(tokens)), n_sent
    order = np.random.default_rng(seed).permutation(n_sent)
    lengths = np.diff(bounds)[order]
    take = np.sort(order[:int(np.searchsorted(np.cumsum(lengths), n_rows)) + 1])
    rows = np.concatenate([np.arange(bounds[s], bounds[s + 1]) for s in take])
    return rows, len(take)


@dataclass
class ReportContext:
    """Inputs and shared intermediate results of one report run."""

    model: object
    vocab: object
    corpus: object
    store: object
    key: str
    n_units: int = 6
    max_rows: int = 50_000
    progress: bool = True
    tag_column: str | None = None
    #: rows (whole sentences) of :attr:`sample`, the data of the model-fitting sections
    sample_rows: int = 8_000
    #: sentences whose state gradients the memory section averages
    memory_sentences: int = 20
    #: per unit: list of (title, html) fragments that its neuron card shows
    notes: dict[int, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    focus_class: str | None = None
    focus_unit: int | None = None
    #: seconds each section took (filled by :func:`rnnscope.report.build.run_sections`)
    timings: dict[str, float] = field(default_factory=dict)
    _values: np.ndarray | None = None
    _units: list[int] | None = None
    _sample: SampleStore | None = None

    @property
    def layer(self) -> int:
        return parse_key(self.key)[0]

    @property
    def tokens(self) -> pd.DataFrame:
        return self.store.tokens.iloc[:self.values.shape[0]]

    @property
    def values(self) -> np.ndarray:
        """``key`` over the first ``max_rows`` rows, float32 (the report's working sample)."""
        if self._values is None:
            n = min(len(self.store), self.max_rows)
            self._values = self.store.get(self.key, slice(0, n))
        return self._values

    @property
    def sample(self) -> SampleStore:
        """Every key on a seeded random sample of whole sentences (about ``sample_rows`` rows)."""
        if self._sample is None:
            rows, n_sent = sample_sentences(self.store.tokens, self.sample_rows)
            self._sample = SampleStore(self.store, rows, n_sent)
        return self._sample

    def sample_note(self) -> str:
        """Says which data the sample is, for the sections that use it."""
        s = self.sample
        total = len(self.store)
        if len(s) >= total:
            return f"all {total} tokens"
        n_sent = int(self.store.meta.get("n_sentences") or len(sentence_bounds(self.store.tokens)) - 1)
        return (f"a random sample of {s.n_sentences} of the {n_sent} sentences "
                f"({len(s)} of {total} tokens)")

    @property
    def units(self) -> list[int]:
        """Units that get a card: the most variable ones, plus any a section adds."""
        if self._units is None:
            std = self.values.std(axis=0)
            self._units = [int(u) for u in np.argsort(-std)[:self.n_units]]
        return self._units

    def add_unit(self, unit: int) -> None:
        if unit not in self.units:
            self.units.append(int(unit))

    def note(self, unit: int, title: str, html: str) -> None:
        self.notes[int(unit)].append((title, html))

    @property
    def joiner(self) -> str:
        return " " if self.vocab.kind == "word" else ""

    def tag_values(self) -> pd.Series | None:
        """The tag column (``upos`` or ``xpos``) of the working sample, if it has any values."""
        for col in ([self.tag_column] if self.tag_column else ["upos", "xpos"]):
            if col and col in self.tokens.columns and self.tokens[col].notna().any():
                self.tag_column = col
                return self.tokens[col]
        return None
