"""What an analysis reads from a store: which rows, which component arrays, which labels.

Every decoding analysis needs the same few steps, kept here so they agree:

* :func:`select_rows` — all stored units (``"every"``: a char/byte model read at every
  character/byte, separators included) or only the last unit of each word (``"word_end"``:
  a word model's words, a char model's last character of each word, seed 000 §5);
* :func:`feature_labels` — the value of a word annotation (``upos``, ``xpos``, ``Case``,
  ``depth`` …) for each row, optionally of the word ``offset`` words away in the same sentence
  (seed 000 Fig. 9); ``None`` marks a word without the feature (``N/A``); separators get
  ``space_label`` (seed 002 tags them ``SPACE``);
* :func:`group_ptb_tags` and :func:`rare_to_other` — seed 002's tag grouping;
  :func:`merge_rare` — ``--min-count``: rare classes into a trainable ``OTHER`` (or left out
  with a notice when even ``OTHER`` would be too small);
* :func:`control_labels` — Hewitt & Liang's control task: every word type gets a label drawn
  at random from the feature's distribution, so a probe can only succeed by memorising words
  (N/A kept where the real label is N/A, or shuffled per word type too);
* :func:`split_mask` — seeded random train/test split; :func:`parse_split` and
  :func:`split_parts` — ``"90/10"`` / ``"80/10/10"`` train/(dev/)test splits (seed 002);
  :func:`select_keys` and :func:`load_rows` — component arrays of a store with clear errors.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from rnnscope.errors import RnnscopeError, StoreError
from rnnscope.keys import parse_key

NA = "N/A"
SPACE = "SPACE"
OTHER = "OTHER"
READ_MODES = ("word_end", "every")
#: how a control task treats N/A: keep the real pattern, or draw it per word type too
CONTROL_NA = ("keep", "shuffle")
NA_CODE = "\0N/A"  # N/A as a drawable value inside control_labels(na="shuffle")

#: seed 002's tag set after grouping (PTB tags; parentheses as in the WSJ files)
PTB_GROUP_KEEP = ("(", ")", "-LRB-", "-RRB-", ",", ".", "CC", "CD", "DT", "IN", "JJ", "MD",
                  "NN", "NNP", "PRP", "RB", "TO", "VB")
_PTB_GROUPS = {**{t: "VB" for t in ("VB", "VBD", "VBG", "VBN", "VBP", "VBZ")},
               **{t: "JJ" for t in ("JJ", "JJR", "JJS")},
               "NN": "NN", "NNS": "NN", "NNP": "NNP", "NNPS": "NNP",
               **{t: "RB" for t in ("RB", "RBR", "RBS")}}


# -- rows and arrays ---------------------------------------------------------------------------
def select_rows(tokens: pd.DataFrame, read: str = "word_end") -> np.ndarray:
    """Boolean mask of the token-table rows an analysis reads (see module docstring)."""
    if read not in READ_MODES:
        raise RnnscopeError(f"read must be one of {', '.join(READ_MODES)}, got {read!r}")
    if read == "every":
        return np.ones(len(tokens), dtype=bool)
    if "is_word_end" not in tokens.columns:
        raise StoreError("token table has no 'is_word_end' column; use read='every'")
    return tokens["is_word_end"].fillna(False).to_numpy(dtype=bool)


def select_keys(store, components: Sequence[str] | None = None,
                layers: Sequence[int] | None = None, keys: Sequence[str] | None = None) -> list[str]:
    """Store keys to analyse, in store order; a missing component or key is a clear error."""
    have = list(store.keys())
    where = getattr(store, "path", "the store")
    if keys:
        missing = [k for k in keys if k not in have]
        if missing:
            raise StoreError(f"{where} has no component {missing[0]!r} (it has {', '.join(have)})")
        return list(keys)
    parsed = [(k, *parse_key(k)) for k in have]
    if components:
        present = {c for _, _, c in parsed}
        missing = [c for c in components if c not in present]
        if missing:
            raise StoreError(f"{where} has no component {missing[0]!r} "
                             f"(it has {', '.join(sorted(present))})")
    if layers:
        present_layers = {lay for _, lay, _ in parsed}
        missing = [lay for lay in layers if lay not in present_layers]
        if missing:
            raise StoreError(f"{where} has no layer {missing[0]} (layers: {sorted(present_layers)})")
    return [k for k, lay, c in parsed
            if (not components or c in components) and (not layers or lay in layers)]


def load_rows(store, key: str, rows: np.ndarray | None = None) -> np.ndarray:
    """``store.get(key, rows)`` as float32, with a clear error for a missing key."""
    if key not in list(store.keys()):
        raise StoreError(f"{getattr(store, 'path', 'the store')} has no component {key!r} "
                         f"(it has {', '.join(store.keys())})")
    idx = None if rows is None else np.asarray(rows)
    if idx is not None and idx.dtype == bool:
        idx = np.flatnonzero(idx)
    return np.asarray(store.get(key, rows=idx), dtype=np.float32)


def _key_chunks(store, key: str):
    """``(start row, float32 block)`` over all rows of ``key`` (streamed where the store can)."""
    if hasattr(store, "iter_chunks"):
        yield from store.iter_chunks(key)
    else:
        yield 0, load_rows(store, key)


def nonfinite_rows(store, keys: Sequence[str], read: np.ndarray | None = None
                   ) -> tuple[np.ndarray, dict[str, int]]:
    """Where ``keys`` of ``store`` hold NaN or ±inf: a mask over the store's rows (any key), and
    per key how many rows of ``read`` (a boolean row mask; default all rows) it spoils (keys
    without any left out). Streams the arrays chunk by chunk (bounded memory)."""
    n = len(store)
    read = np.ones(n, dtype=bool) if read is None else np.asarray(read, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    counts: dict[str, int] = {}
    for key in keys:
        key_bad = np.zeros(n, dtype=bool)
        for start, block in _key_chunks(store, key):
            key_bad[start:start + len(block)] = ~np.isfinite(block).all(axis=1)
        if (key_bad & read).any():
            counts[key] = int((key_bad & read).sum())
        bad |= key_bad
    return bad & read, counts


def nonfinite_message(where: str, counts: dict[str, int], n_bad: int, n_read: int,
                      drop: bool) -> str:
    """The error (``drop`` False) or the note (``drop`` True) about NaN/inf rows."""
    per_key = ", ".join(f"{k}: {c} row{'s' if c != 1 else ''}"
                        for k, c in list(counts.items())[:6])
    per_key += f", and {len(counts) - 6} more keys" if len(counts) > 6 else ""
    if drop:
        return (f"--drop-nonfinite: left out {n_bad} of the {n_read} rows read from {where}, "
                f"which hold NaN or inf values ({per_key})")
    return (f"{where}: NaN or inf values in {n_bad} of the {n_read} rows read ({per_key}); "
            "rerun with --drop-nonfinite to leave those rows out")


def check_finite_rows(store, keys: Sequence[str], read: np.ndarray, drop: bool = False
                      ) -> tuple[np.ndarray, str | None]:
    """``(rows to leave out, note)`` for the NaN/inf rows among ``read`` of ``store``.

    None: nothing left out, no note. With NaN/inf rows a :class:`StoreError` names the keys
    and counts, unless ``drop``: then those rows are returned to be left out, with a note.
    """
    bad, counts = nonfinite_rows(store, keys, read)
    if not counts:
        return bad, None
    where = getattr(store, "path", "the store")
    msg = nonfinite_message(where, counts, int(bad.sum()), int(np.sum(read)), drop)
    if not drop:
        raise StoreError(msg)
    return bad, msg


# -- labels ------------------------------------------------------------------------------------
def _clean(value) -> object:
    """An annotation value as a label string, or None when absent (None, NaN, '_', '')."""
    if value is None:
        return None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    text = str(value)
    return None if text in ("", "_", "nan", "None") else text


def feature_labels(tokens: pd.DataFrame, feature: str, offset: int = 0,
                   space_label: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the ``feature`` of word ``word_index + offset`` of the same sentence.

    Returns ``(labels, valid)``: ``labels`` is an object array of strings with ``None`` for
    a word without the feature (N/A); ``valid`` is False where there is no such word (before
    the first / after the last word, or a separator with ``offset != 0``). Separators
    (``word_index == -1``) get ``space_label`` when given (offset 0 only), else are invalid.
    """
    if feature not in tokens.columns:
        known = [c for c in tokens.columns if c not in
                 ("sentence", "position", "token", "word", "word_index", "is_word_end")]
        raise RnnscopeError(f"no token has feature {feature!r}: the store's token table has no "
                            f"such column (annotations: {', '.join(known) or 'none'})")
    sent = tokens["sentence"].to_numpy()
    widx = tokens["word_index"].to_numpy()
    is_word = widx >= 0
    words = tokens.loc[is_word, ["sentence", "word_index", feature]]
    words = words.drop_duplicates(["sentence", "word_index"])
    lookup = pd.Series([_clean(v) for v in words[feature].to_numpy()],
                       index=pd.MultiIndex.from_arrays([words["sentence"], words["word_index"]]),
                       dtype=object)
    target = pd.MultiIndex.from_arrays([sent, widx + offset])
    found = lookup.reindex(target)
    exists = target.isin(lookup.index)
    labels = np.array(found.to_numpy(), dtype=object)
    labels[~exists] = None
    valid = exists & is_word
    if space_label is not None and offset == 0:
        labels[~is_word] = space_label
        valid = valid | ~is_word
    labels[~valid] = None
    labels = np.array([None if (isinstance(v, float) and np.isnan(v)) else v for v in labels],
                      dtype=object)
    return labels, np.asarray(valid, dtype=bool)


def check_feature_present(labels: np.ndarray, feature: str) -> None:
    """Raise when no row carries the feature."""
    if not any(v is not None for v in labels):
        raise RnnscopeError(f"no token has feature {feature!r} (every value is missing/N/A)")


def check_class_counts(labels: Sequence, what: str = "class", minimum: int = 2,
                       purpose: str = "to train and test") -> None:
    """Raise a clear error when a class has fewer than ``minimum`` examples.

    The message recommends ``--min-count minimum``, which :func:`merge_rare` (with the same
    ``minimum``) guarantees to cure: with ``min_count >= minimum`` every class it keeps,
    ``OTHER`` included, has at least ``minimum`` examples.
    """
    counts = Counter(v for v in labels if v is not None)
    rare = sorted((n, str(c)) for c, n in counts.items() if n < minimum)
    if rare:
        n, c = rare[0]
        more = f" (and {len(rare) - 1} more)" if len(rare) > 1 else ""
        raise RnnscopeError(f"{what} {c!r} has only {n} example{'s' if n != 1 else ''}{more}: "
                            f"need at least {minimum} {purpose}; merge rare classes "
                            f"(--min-count {minimum}) or group tags")


def group_ptb_tags(labels: Sequence, keep: Sequence[str] = PTB_GROUP_KEEP) -> np.ndarray:
    """Seed 002's grouping: VB*→VB, JJ*→JJ, NN/NNS→NN, NNP/NNPS→NNP, RB*→RB, others→OTHER.

    ``SPACE`` and ``None`` pass through unchanged.
    """
    keep = set(keep)
    out = []
    for v in labels:
        if v is None or v == SPACE:
            out.append(v)
            continue
        g = _PTB_GROUPS.get(v, v)
        out.append(g if g in keep else OTHER)
    return np.array(out, dtype=object)


def rare_to_other(labels: Sequence, min_count: int) -> np.ndarray:
    """Replace labels seen fewer than ``min_count`` times by ``OTHER``."""
    counts = Counter(v for v in labels if v is not None)
    return np.array([v if v is None or counts[v] >= min_count else OTHER for v in labels],
                    dtype=object)


def merge_rare(labels: Sequence, min_count: int, minimum: int = 2,
               feature: str = "") -> tuple[np.ndarray, np.ndarray, str | None]:
    """``--min-count``: labels seen fewer than ``min_count`` times become ``OTHER``, trainably.

    Returns ``(labels, keep, notice)``. ``OTHER`` (the merged rare classes, plus any ``OTHER``
    already there, e.g. from :func:`group_ptb_tags`) is kept as a class when it has at least
    ``minimum`` examples (2: one to train, one to test; 3 with a dev part), as
    :func:`rare_to_other` always kept it; with fewer — one rare tag with one example — it could
    not be trained, so its rows are left out (``keep`` False) instead of failing later.
    ``notice`` says what was merged or left out (``None`` when nothing was rare). ``None``
    labels (N/A) pass through and are always kept.
    """
    labels = np.asarray(labels, dtype=object)
    keep = np.ones(len(labels), dtype=bool)
    counts = Counter(v for v in labels if v is not None)
    rare = sorted(str(c) for c, n in counts.items() if n < min_count and c != OTHER)
    if min_count <= 1 or not (rare or 0 < counts.get(OTHER, 0) < min_count):
        return labels, keep, None
    merged = np.array([v if v is None or counts[v] >= min_count else OTHER for v in labels],
                      dtype=object)
    is_other = np.array([v == OTHER for v in merged])
    n_other, bar = int(is_other.sum()), max(2, minimum)
    names = ", ".join(rare[:5]) + (f" and {len(rare) - 5} more" if len(rare) > 5 else "")
    kind = f"{feature} class" if feature else "class"
    merged_what = f"{len(rare)} rare {kind}{'' if len(rare) == 1 else 'es'} ({names})"
    if n_other >= bar:
        note = (f"--min-count {min_count}: {merged_what} merged into {OTHER} ({n_other} "
                f"examples)") if rare else None
        return merged, keep, note
    keep &= ~is_other
    if rare and counts.get(OTHER):
        left = f"{merged_what} and {OTHER}"
    else:
        left = merged_what if rare else OTHER
    return merged, keep, (f"--min-count {min_count}: {left} left out: {OTHER} would have "
                          f"only {n_other} example{'' if n_other == 1 else 's'}, fewer than "
                          f"the {bar} a class needs")


def control_labels(words: Sequence, labels: Sequence, seed: int = 0,
                   na: str = "keep") -> np.ndarray:
    """Hewitt & Liang control task: one random label per word type, same label distribution.

    ``na="keep"`` (the default): each word type gets a label sampled from the empirical
    distribution of ``labels`` with N/A excluded, and rows whose real label is ``None`` stay
    ``None`` — the control keeps the real N/A pattern, so a probe trained on it still learns
    which tokens have the feature from the real signal, and selectivity measures only the
    within-feature part. ``na="shuffle"``: N/A is one more value of the distribution, drawn per
    word type like the others, so the control's N/A pattern is random too (same N/A share).
    """
    if na not in CONTROL_NA:
        raise RnnscopeError(f"control N/A handling must be one of {', '.join(CONTROL_NA)}, "
                            f"got {na!r}")
    labels = np.asarray(labels, dtype=object)
    if na == "shuffle":
        code = np.array([NA_CODE if v is None else str(v) for v in labels], dtype=object)
        classes, counts = np.unique(code.astype(str), return_counts=True)
        rng = np.random.default_rng(seed)
        types = pd.unique(np.asarray(words, dtype=object))
        drawn = rng.choice(classes, size=len(types), p=counts / counts.sum())
        mapping = dict(zip(types, drawn))
        return np.array([None if mapping[w] == NA_CODE else mapping[w] for w in words],
                        dtype=object)
    have = np.array([v is not None for v in labels])
    classes, counts = np.unique(labels[have].astype(str), return_counts=True)
    rng = np.random.default_rng(seed)
    types = pd.unique(np.asarray(words, dtype=object))
    drawn = rng.choice(classes, size=len(types), p=counts / counts.sum())
    mapping = dict(zip(types, drawn))
    out = np.array([mapping[w] for w in words], dtype=object)
    out[~have] = None
    return out


def split_mask(n: int, test_size: float = 0.1, seed: int = 0,
               stratify: Sequence | None = None) -> np.ndarray:
    """Boolean ``is_test`` mask: a seeded random ``test_size`` fraction of ``n`` rows.

    With ``stratify`` (one label per row, every class with at least 2 rows) each class is split
    in proportion, so no class is missing from training.
    """
    if not 0.0 < test_size < 1.0:
        raise RnnscopeError(f"test_size must be in (0, 1), got {test_size}")
    idx = np.arange(n)
    if stratify is not None:
        from sklearn.model_selection import train_test_split

        strat = np.array(["\0none" if v is None else str(v) for v in stratify])
        _, counts = np.unique(strat, return_counts=True)
        n_test = max(int(round(n * test_size)), len(counts))
        if n_test < n - len(counts) and counts.min() >= 2:
            _, test_idx = train_test_split(idx, test_size=n_test, random_state=seed, stratify=strat)
            is_test = np.zeros(n, dtype=bool)
            is_test[test_idx] = True
            return is_test
    rng = np.random.default_rng(seed)
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.permutation(n)[: max(1, int(round(n * test_size)))]] = True
    return is_test


#: the splits ``--split`` names directly (any ``TRAIN/TEST`` or ``TRAIN/DEV/TEST`` works)
SPLITS = ("90/10", "80/10/10")


def parse_split(split: str) -> tuple[float, float, float]:
    """``"90/10"`` -> ``(0.9, 0.0, 0.1)``; ``"80/10/10"`` -> ``(0.8, 0.1, 0.1)`` (train, dev,
    test fractions). Percentages, two or three of them, each positive, summing to 100."""
    parts = str(split).replace(" ", "").split("/")
    try:
        pct = [float(p) for p in parts]
    except ValueError:
        pct = []
    if len(pct) not in (2, 3) or min(pct, default=0) <= 0 or abs(sum(pct) - 100) > 1e-6:
        raise RnnscopeError(f"split must be TRAIN/TEST or TRAIN/DEV/TEST percentages summing "
                            f"to 100, e.g. {' or '.join(SPLITS)}; got {split!r}")
    if len(pct) == 2:
        return pct[0] / 100, 0.0, pct[1] / 100
    return pct[0] / 100, pct[1] / 100, pct[2] / 100


def split_parts(labels: Sequence, dev_size: float = 0.1, test_size: float = 0.1,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(is_dev, is_test)`` masks of a seeded train/dev/test split, stratified by class.

    Every class is shuffled on its own and gives ``round(n_c * dev_size)`` rows to dev and
    ``round(n_c * test_size)`` to test, at least one each, so each class (at least 3 rows) is in
    all three parts; the rest is train. ``None`` labels form one more stratum.
    """
    if not (0.0 < dev_size < 1.0 and 0.0 < test_size < 1.0 and dev_size + test_size < 1.0):
        raise RnnscopeError(f"dev and test fractions must be positive and leave rows to train, "
                            f"got dev {dev_size}, test {test_size}")
    strat = np.array(["\0none" if v is None else str(v) for v in labels])
    rng = np.random.default_rng(seed)
    is_dev = np.zeros(len(strat), dtype=bool)
    is_test = np.zeros(len(strat), dtype=bool)
    for cls in np.unique(strat):
        idx = rng.permutation(np.flatnonzero(strat == cls))
        if len(idx) < 3:
            raise RnnscopeError(f"class {cls!r} has only {len(idx)} rows: a train/dev/test "
                                f"split needs at least 3 per class")
        n_test = max(1, int(round(len(idx) * test_size)))
        n_dev = max(1, int(round(len(idx) * dev_size)))
        n_test = min(n_test, len(idx) - 2)
        n_dev = min(n_dev, len(idx) - n_test - 1)
        is_test[idx[:n_test]] = True
        is_dev[idx[n_test:n_test + n_dev]] = True
    return is_dev, is_test
