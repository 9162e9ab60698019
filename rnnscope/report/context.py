"""What every report section reads (model, vocabulary, corpus, store, chosen units) and writes
(notes for the neuron cards)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnnscope.keys import parse_key


class Skip(Exception):
    """A section that does not apply to these inputs; the message says why."""


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
    #: per unit: list of (title, html) fragments that its neuron card shows
    notes: dict[int, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    focus_class: str | None = None
    focus_unit: int | None = None
    _values: np.ndarray | None = None
    _units: list[int] | None = None

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
