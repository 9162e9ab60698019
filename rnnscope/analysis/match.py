"""LSTMVis-style span matching (seed 001): which other stretches of text light up the same units?

A *selection* is a span of consecutive rows of the token table (one sentence, positions
``start .. end-1``). Its *unit set* is the units whose state is above ``threshold`` at every token
of the span (LSTMVis thresholds the raw state: ``scale="raw"``, the default for ``h``;
``scale="tanh"`` thresholds ``tanh(state)`` instead, the default for the unbounded cell state) (optionally also off just before and/or just after it, LSTMVis' "off before/after").
Every other span of the corpus (inside one sentence, of a length close to the selection's) is
then scored by the units on across *it*:

1. ``overlap``: how many of the selected units are on across the candidate (more is better);
2. ``extra``: how many other units are on across it too (fewer is better);
3. ``length``: closeness to the selection's length, then longer first;
4. ``activation``: the mean value of the selected units across the candidate, higher first
   (the stated tie-break: spans equal on 1-3 are otherwise common), then corpus order.

Overlapping candidates are thinned greedily (the best span of a cluster wins), spans overlapping
the selection are skipped, and the top matches come back with their context and the shared
units. The scan reads the states block by block (whole sentences per block), so it works on a
lazily read store of a million tokens without loading it whole; "other units on across the
span" is counted (on bit-packed rows) only for candidates sharing enough selected units.

The follow-ups live beside it: :func:`rnnscope.analysis.idioms.idiom_check` (which units fire
for one phrase only) and :func:`rnnscope.analysis.word_sets.word_set_pca` (PCA of the states of
a chosen word set).

The core functions take ``states`` (anything sliceable by rows: a numpy array or a store's lazy
zarr array) and the token table; ``*_store`` wrappers take an :class:`ActivationStore`.

>>> import numpy as np, pandas as pd
>>> tokens = pd.DataFrame({"sentence": [0] * 6, "token": list("abcabc")})
>>> states = np.full((6, 4), -1.0); states[[0, 1, 3, 4], 2] = 2.0
>>> r = match_spans(states, tokens, 0, 2)
>>> r.units.tolist(), r.table.loc[0, ["row_start", "row_end", "overlap", "extra"]].tolist()
([2], [3, 5, 1, 0])
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnnscope.errors import RnnscopeError
from rnnscope.notebook import HtmlRepr

DEFAULT_THRESHOLD = 0.3
BLOCK_ROWS = 65536


SCALES = ("raw", "tanh")


# -- small helpers ------------------------------------------------------------------------------
def default_scale(key: str | None) -> str:
    """``"raw"`` for hidden states (as LSTMVis), ``"tanh"`` for other components (``c`` is
    unbounded, gates are in (0, 1))."""
    return "raw" if key is None or str(key).endswith(".h") else "tanh"


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise RnnscopeError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    return scale


def check_threshold(threshold: float, scale: str = "tanh") -> float:
    """Return ``threshold`` as float; :class:`RnnscopeError` unless it lies in (0, 1).

    On both scales: ``tanh(state)`` lies in (-1, 1), and so does a hidden state
    ``h = o * tanh(c)``; "on" means above a positive level."""
    check_scale(scale)
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise RnnscopeError(f"threshold must be a number in (0, 1), got {threshold!r}") from None
    if not 0.0 < t < 1.0:
        raise RnnscopeError(f"threshold must lie strictly between 0 and 1 ({scale} scale), got {t}")
    return t


def binarize(states: np.ndarray, threshold: float = DEFAULT_THRESHOLD,
             scale: str = "tanh") -> np.ndarray:
    """Boolean ``states > threshold`` (raw) or ``tanh(states) > threshold`` (computed as
    ``states > atanh(threshold)``)."""
    t = check_threshold(threshold, scale)
    cut = t if scale == "raw" else np.arctanh(t)
    return np.asarray(states, dtype=np.float32) > cut


def joiner_for(vocab_kind: str | None) -> str:
    """How units join into text: words with spaces, characters/bytes with nothing."""
    return " " if (vocab_kind or "word") == "word" else ""


def sentence_bounds(tokens: pd.DataFrame) -> np.ndarray:
    """Row index where each sentence starts, plus ``len(tokens)`` at the end."""
    sid = tokens["sentence"].to_numpy()
    if len(sid) == 0:
        return np.array([0])
    starts = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    return np.r_[starts, len(sid)]


def _blocks(bounds: np.ndarray, block_rows: int) -> Iterator[tuple[int, int]]:
    """Row ranges of whole sentences, each about ``block_rows`` long."""
    start = 0
    n = int(bounds[-1])
    while start < n:
        # last sentence start <= start + block_rows, but always advance by >= one sentence
        k = np.searchsorted(bounds, start + block_rows, side="right") - 1
        stop = int(bounds[k]) if bounds[k] > start else int(bounds[np.searchsorted(bounds, start, side="right")])
        yield start, stop
        start = stop


def take_rows(states, rows: np.ndarray, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """``states[rows]`` as float32 for numpy or lazy (row-sliceable) arrays, reading in blocks."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(states, np.ndarray):
        return states[rows].astype(np.float32)
    out = np.zeros((len(rows), states.shape[1]), dtype=np.float32)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    i = 0
    while i < len(sorted_rows):
        lo = sorted_rows[i]
        j = np.searchsorted(sorted_rows, lo + block_rows, side="left")
        block = np.asarray(states[lo:sorted_rows[j - 1] + 1], dtype=np.float32)
        out[order[i:j]] = block[sorted_rows[i:j] - lo]
        i = j
    return out


def _text(tokens: pd.Series, joiner: str) -> str:
    return joiner.join(str(t) for t in tokens)


# -- selections -----------------------------------------------------------------------------------
@dataclass
class Selection:
    """A span of rows ``row_start .. row_end-1`` inside one sentence, and its unit set."""

    row_start: int
    row_end: int
    sentence: int
    start: int          # position of the first token within the sentence
    text: str
    units: np.ndarray   # selected unit indices (0-based)


def span_rows(tokens: pd.DataFrame, sentence: int, start: int, end: int) -> tuple[int, int]:
    """Rows of positions ``start .. end-1`` of ``sentence`` (end exclusive); clear errors if out of range."""
    bounds = sentence_bounds(tokens)
    n_sent = len(bounds) - 1
    sids = tokens["sentence"].to_numpy()
    if n_sent == 0:
        raise RnnscopeError("the token table is empty")
    first_rows = bounds[:-1]
    hit = np.flatnonzero(sids[first_rows] == sentence)
    if len(hit) == 0:
        raise RnnscopeError(f"sentence {sentence} is not in the store (sentences "
                            f"{sids[0]}..{sids[-1]})")
    a, b = int(bounds[hit[0]]), int(bounds[hit[0] + 1])
    length = b - a
    if not (0 <= start < end <= length):
        raise RnnscopeError(f"span {start}:{end} is out of range for sentence {sentence} "
                            f"({length} tokens; need 0 <= start < end <= {length})")
    return a + start, a + end


def find_phrase(tokens: pd.DataFrame, phrase: str, joiner: str = " ") -> list[tuple[int, int]]:
    """Every occurrence of ``phrase`` as whole consecutive tokens: list of ``(row_start, row_end)``.

    Tokens are joined with ``joiner`` (a space for word models, nothing for char/byte models);
    matching is case-sensitive and must start and end on token boundaries. Whitespace inside
    ``phrase`` is normalised to single spaces for word models.
    """
    if not phrase or not phrase.strip():
        raise RnnscopeError("the phrase to search for is empty")
    if joiner == " ":
        phrase = " ".join(phrase.split())
    toks = tokens["token"].astype(str).tolist()
    sids = tokens["sentence"].to_numpy()
    pieces: list[str] = []
    starts = np.zeros(len(toks), dtype=np.int64)
    ends = np.zeros(len(toks), dtype=np.int64)
    pos = 0
    for r, tok in enumerate(toks):
        if r > 0:
            sep = joiner if sids[r] == sids[r - 1] else "\n"
            pieces.append(sep)
            pos += len(sep)
        starts[r] = pos
        pieces.append(tok)
        pos += len(tok)
        ends[r] = pos
    text = "".join(pieces)
    found: list[tuple[int, int]] = []
    i = text.find(phrase)
    while i >= 0:
        r0 = int(np.searchsorted(starts, i))
        r1 = int(np.searchsorted(ends, i + len(phrase)))
        if (r0 < len(toks) and starts[r0] == i and r1 < len(toks) and ends[r1] == i + len(phrase)
                and sids[r0] == sids[r1]):
            found.append((r0, r1 + 1))
        i = text.find(phrase, i + 1)
    return found


def select_units(states, tokens: pd.DataFrame, row_start: int, row_end: int,
                 threshold: float = DEFAULT_THRESHOLD, off_before: bool = False,
                 off_after: bool = False, joiner: str = " ", scale: str = "raw") -> Selection:
    """Units on across rows ``row_start .. row_end-1`` (optionally off just before/after).

    "Before"/"after" only apply inside the sentence: a span at a sentence edge has no
    neighbour there and the condition is skipped.
    """
    threshold = check_threshold(threshold, scale)
    n = len(tokens)
    if not (0 <= row_start < row_end <= n):
        raise RnnscopeError(f"row span {row_start}:{row_end} is out of range (store has {n} rows)")
    sids = tokens["sentence"].to_numpy()
    if sids[row_start] != sids[row_end - 1]:
        raise RnnscopeError(f"row span {row_start}:{row_end} crosses a sentence boundary")
    lo = row_start - 1 if off_before and row_start > 0 and sids[row_start - 1] == sids[row_start] else row_start
    hi = row_end + 1 if off_after and row_end < n and sids[row_end] == sids[row_end - 1] else row_end
    on = binarize(np.asarray(states[lo:hi], dtype=np.float32), threshold, scale)
    inner = on[row_start - lo: row_start - lo + (row_end - row_start)]
    keep = inner.all(axis=0)
    if lo < row_start:
        keep &= ~on[0]
    if hi > row_end:
        keep &= ~on[-1]
    first = int(np.searchsorted(sids, sids[row_start]))  # rows are in corpus order
    return Selection(row_start=row_start, row_end=row_end, sentence=int(sids[row_start]),
                     start=int(row_start - first),
                     text=_text(tokens["token"].iloc[row_start:row_end], joiner),
                     units=np.flatnonzero(keep))


# -- matching -------------------------------------------------------------------------------------
@dataclass
class MatchResult(HtmlRepr):
    """Top spans matching a selection: ``.table`` has one row per match (rank order)."""

    _html_plot = "plot"

    selection: Selection
    threshold: float
    table: pd.DataFrame
    n_candidates: int = 0
    params: dict = field(default_factory=dict)
    scale: str = "raw"

    def _html_caption(self) -> str:
        return f"spans matching {self.selection.text!r} ({len(self.units)} units on)"

    def _html_figure(self):
        return self.plot() if len(self.units) else None

    @property
    def units(self) -> np.ndarray:
        return self.selection.units

    def plot(self, max_rows: int = 20):
        """Grid of the selected units (columns) on/off across the selection and each match."""
        from rnnscope.figures import match_grid
        return match_grid(self, max_rows=max_rows)


def _score_block(on: np.ndarray, sids: np.ndarray, units: np.ndarray, lengths: Sequence[int],
                 min_overlap: int, values: np.ndarray) -> list[np.ndarray]:
    """Candidates of one block: rows ``[start, length, overlap, extra, activation]`` (local
    starts; ``activation`` is the mean of ``values [rows, selected units]`` over the span).

    The overlap with the selected units is computed for every start with running ANDs over the
    few selected columns; the (costlier) count of other units on across the span is computed
    only for the starts that pass ``min_overlap``, on bit-packed rows.
    """
    n, h = on.shape
    sel = on[:, units]
    rest_mask = np.ones(h, dtype=bool)
    rest_mask[units] = False
    acc = sel
    out = []
    for length in range(1, max(lengths) + 1):
        m = n - length + 1
        if m <= 0:
            break
        if length > 1:
            acc = acc[:m] & sel[length - 1:]
        if length not in lengths:
            continue
        overlap = np.count_nonzero(acc, axis=1)
        ok = (sids[:m] == sids[length - 1:length - 1 + m]) & (overlap >= min_overlap)
        idx = np.flatnonzero(ok)
        if len(idx) == 0:
            continue
        both = np.packbits(on[idx][:, rest_mask], axis=1)
        for j in range(1, length):
            both &= np.packbits(on[idx + j][:, rest_mask], axis=1)
        extra = np.bitwise_count(both).sum(axis=1, dtype=np.int64)
        act = values[idx].sum(axis=1, dtype=np.float64)
        for j in range(1, length):
            act += values[idx + j].sum(axis=1, dtype=np.float64)
        act /= length * max(1, values.shape[1])
        out.append(np.stack([idx, np.full(len(idx), length), overlap[idx], extra, act],
                            axis=1).astype(np.float64))
    return out


def _rank(cands: np.ndarray, sel_len: int) -> np.ndarray:
    """Order: overlap desc, extra asc, |length - selection length| asc, length desc, mean
    activation of the selected units desc, start asc."""
    start, length, overlap, extra, act = cands.T
    return np.lexsort((start, -act, -length, np.abs(length - sel_len), extra, -overlap))


def _thin(cands: np.ndarray, order: np.ndarray, top: int, exclude: tuple[int, int]) -> list[int]:
    """Greedy non-overlap: walk the ranking, keep spans that overlap no kept span or ``exclude``."""
    kept: list[int] = []
    taken: list[tuple[int, int]] = [exclude]
    for i in order:
        s, e = int(cands[i, 0]), int(cands[i, 0] + cands[i, 1])
        if any(s < b and a < e for a, b in taken):
            continue
        kept.append(int(i))
        taken.append((s, e))
        if len(kept) >= top:
            break
    return kept


def match_spans(states, tokens: pd.DataFrame, row_start: int, row_end: int, *,
                threshold: float = DEFAULT_THRESHOLD, off_before: bool = False,
                off_after: bool = False, length_slack: int = 1, top: int = 10,
                min_overlap: int | None = None, context: int = 5, joiner: str = " ",
                block_rows: int = BLOCK_ROWS, progress: bool = False,
                scale: str = "raw") -> MatchResult:
    """Rank every other span of the corpus by how well its on-units match the selection's.

    ``states``: [rows, H] numpy or lazy array aligned with ``tokens`` (needs a ``sentence`` and
    a ``token`` column). The selection is rows ``row_start .. row_end-1``. Candidate lengths are
    the selection's length ± ``length_slack``. ``min_overlap`` (default: half the selected
    units, at least 1) drops weak candidates early. Returns :class:`MatchResult` whose table
    has ``rank, sentence, start, end, row_start, row_end, overlap, extra, length, left, text,
    right, shared_units, activation``. ``scale``: threshold the raw states (LSTMVis) or
    ``tanh`` of them.
    """
    threshold = check_threshold(threshold, scale)
    if top < 1:
        raise RnnscopeError(f"top must be at least 1, got {top}")
    if length_slack < 0:
        raise RnnscopeError(f"length_slack must be >= 0, got {length_slack}")
    if states.shape[0] != len(tokens):
        raise RnnscopeError(f"states have {states.shape[0]} rows but the token table has {len(tokens)}")
    selection = select_units(states, tokens, row_start, row_end, threshold, off_before,
                             off_after, joiner, scale)
    sel_len = row_end - row_start
    lengths = set(range(max(1, sel_len - length_slack), sel_len + length_slack + 1))
    units = selection.units
    params = dict(off_before=off_before, off_after=off_after, length_slack=length_slack, top=top,
                  scale=scale)
    if len(units) == 0:
        return MatchResult(selection, threshold, _empty_table(), 0, params, scale)
    if min_overlap is None:
        min_overlap = max(1, int(np.ceil(len(units) / 2)))
    bounds = sentence_bounds(tokens)
    sids_all = tokens["sentence"].to_numpy()
    keep_per_block = max(1000, top * 4 * (sel_len + length_slack + 1))
    collected = []
    blocks = list(_blocks(bounds, block_rows))
    iterator: Iterable = blocks
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(blocks, desc="matching", unit="block", disable=None)  # None: off without a tty
    for a, b in iterator:
        block = np.asarray(states[a:b], dtype=np.float32)
        on = binarize(block, threshold, scale)
        parts = _score_block(on, sids_all[a:b], units, lengths, min_overlap, block[:, units])
        if not parts:
            continue
        c = np.concatenate(parts)
        c[:, 0] += a
        if len(c) > keep_per_block:
            c = c[_rank(c, sel_len)[:keep_per_block]]
        collected.append(c)
    if not collected:
        return MatchResult(selection, threshold, _empty_table(), 0, params, scale)
    cands = np.concatenate(collected)
    kept = _thin(cands, _rank(cands, sel_len), top, (row_start, row_end))
    table = _describe(states, tokens, cands[kept], units, threshold, context, joiner, bounds, scale)
    return MatchResult(selection, threshold, table, int(len(cands)), params, scale)


_COLUMNS = ["rank", "sentence", "start", "end", "row_start", "row_end", "overlap", "extra",
            "length", "left", "text", "right", "shared_units", "activation"]


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in _COLUMNS})


def _describe(states, tokens: pd.DataFrame, rows: np.ndarray, units: np.ndarray,
              threshold: float, context: int, joiner: str, bounds: np.ndarray,
              scale: str = "raw") -> pd.DataFrame:
    """One table row per kept candidate, with context text and the shared units."""
    toks = tokens["token"]
    sids = tokens["sentence"].to_numpy()
    records = []
    for rank, (s, length, overlap, extra, act) in enumerate(rows.tolist(), start=1):
        s, length, overlap, extra = int(s), int(length), int(overlap), int(extra)
        e = s + length
        k = int(np.searchsorted(bounds, s, side="right")) - 1
        first, last = int(bounds[k]), int(bounds[k + 1])
        on = binarize(np.asarray(states[s:e], dtype=np.float32)[:, units], threshold,
                      scale).all(axis=0)
        records.append(dict(
            rank=rank, sentence=int(sids[s]), start=s - first, end=e - first, row_start=s,
            row_end=e, overlap=overlap, extra=extra, length=length,
            left=_text(toks.iloc[max(first, s - context):s], joiner),
            text=_text(toks.iloc[s:e], joiner),
            right=_text(toks.iloc[e:min(last, e + context)], joiner),
            shared_units=[int(u) for u in units[on]], activation=round(float(act), 4)))
    return pd.DataFrame.from_records(records, columns=_COLUMNS)


def match_store(store, key: str, *, sentence: int | None = None, start: int | None = None,
                end: int | None = None, phrase: str | None = None, occurrence: int = 0,
                **kwargs) -> MatchResult:
    """:func:`match_spans` on ``store[key]``: select by ``sentence, start, end`` or by ``phrase``.

    ``end`` is exclusive. With ``phrase``, the ``occurrence``-th hit (0-based) is the selection.
    """
    tokens = store.tokens
    joiner = joiner_for(store.meta.get("vocab_kind"))
    if phrase is not None:
        hits = find_phrase(tokens, phrase, joiner)
        if not hits:
            raise RnnscopeError(f"phrase {phrase!r} does not occur in the store's corpus")
        if not 0 <= occurrence < len(hits):
            raise RnnscopeError(f"phrase {phrase!r} occurs {len(hits)} time(s); "
                                f"occurrence {occurrence} is out of range")
        a, b = hits[occurrence]
    else:
        if sentence is None or start is None or end is None:
            raise RnnscopeError("give a span (sentence, start, end) or a phrase to search for")
        a, b = span_rows(tokens, sentence, start, end)
    kwargs.setdefault("scale", default_scale(key))
    return match_spans(store[key], tokens, a, b, joiner=joiner, **kwargs)

