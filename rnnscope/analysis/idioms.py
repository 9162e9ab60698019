"""The LSTMVis study's idiom check: which units fire across one phrase and rarely elsewhere
(:func:`idiom_check`), on the span-matching machinery of :mod:`rnnscope.analysis.match`."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnscope.analysis.match import (BLOCK_ROWS, DEFAULT_THRESHOLD, binarize, check_threshold,
                                     find_phrase)
from rnnscope.errors import RnnscopeError
from rnnscope.notebook import HtmlRepr


# -- idioms -----------------------------------------------------------------------------------------
@dataclass
class IdiomResult(HtmlRepr):
    """Per-unit table (which phrases a unit fires for) and per-phrase summary."""

    table: pd.DataFrame      # unit, phrases, n_phrases, selective_for, corpus_rate
    summary: pd.DataFrame    # phrase, occurrences, active_units, selective_units
    threshold: float

    def selective(self) -> pd.DataFrame:
        """Units that fire for exactly one phrase."""
        return self.table[self.table["n_phrases"] == 1]


def idiom_check(states, tokens: pd.DataFrame, phrases: Sequence[str], *,
                threshold: float = DEFAULT_THRESHOLD, joiner: str = " ",
                min_fraction: float = 1.0, block_rows: int = BLOCK_ROWS,
                scale: str = "raw") -> IdiomResult:
    """Seed 001's idiom check: which units are on across each phrase, and which for one only.

    A unit is "active for" a phrase when it is on across the phrase's span in at least
    ``min_fraction`` of the phrase's occurrences. ``corpus_rate`` is the fraction of all tokens
    where the unit is on (low = rarely on elsewhere, a stronger sign of selectivity).
    ``scale`` as in :func:`match_spans`.
    """
    threshold = check_threshold(threshold, scale)
    if not phrases:
        raise RnnscopeError("give at least one phrase for the idiom check")
    if not 0.0 < min_fraction <= 1.0:
        raise RnnscopeError(f"min_fraction must be in (0, 1], got {min_fraction}")
    h = states.shape[1]
    active: dict[str, np.ndarray] = {}
    occurrences: dict[str, int] = {}
    for phrase in phrases:
        hits = find_phrase(tokens, phrase, joiner)
        if not hits:
            raise RnnscopeError(f"phrase {phrase!r} does not occur in the corpus")
        counts = np.zeros(h, dtype=np.int64)
        for a, b in hits:
            counts += binarize(np.asarray(states[a:b], dtype=np.float32), threshold,
                               scale).all(axis=0)
        active[phrase] = counts >= min_fraction * len(hits) - 1e-9
        occurrences[phrase] = len(hits)
    union = np.flatnonzero(np.any(np.stack(list(active.values())), axis=0))
    rate = _on_rate(states, union, threshold, block_rows, scale)
    rows = []
    for j, u in enumerate(union):
        fired = [p for p in phrases if active[p][u]]
        rows.append(dict(unit=int(u), phrases=fired, n_phrases=len(fired),
                         selective_for=fired[0] if len(fired) == 1 else None,
                         corpus_rate=float(rate[j])))
    table = pd.DataFrame(rows, columns=["unit", "phrases", "n_phrases", "selective_for", "corpus_rate"])
    summary = pd.DataFrame([dict(phrase=p, occurrences=occurrences[p],
                                 active_units=int(active[p].sum()),
                                 selective_units=int((table["selective_for"] == p).sum()))
                            for p in phrases])
    return IdiomResult(table=table, summary=summary, threshold=threshold)


def _on_rate(states, units: np.ndarray, threshold: float, block_rows: int,
             scale: str = "raw") -> np.ndarray:
    n = states.shape[0]
    if len(units) == 0 or n == 0:
        return np.zeros(len(units))
    total = np.zeros(len(units), dtype=np.int64)
    for a in range(0, n, block_rows):
        block = np.asarray(states[a:a + block_rows], dtype=np.float32)[:, units]
        total += binarize(block, threshold, scale).sum(axis=0)
    return total / n
