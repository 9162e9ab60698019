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
* :func:`control_labels` — Hewitt & Liang's control task: every word type gets a label drawn
  at random from the feature's distribution, so a probe can only succeed by memorising words;
* :func:`split_mask` — seeded random train/test split; :func:`select_keys` and
  :func:`load_rows` — component arrays of a store with clear errors.
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


def check_class_counts(labels: Sequence, what: str = "class", minimum: int = 2) -> None:
    """Raise a clear error when a class has fewer than ``minimum`` examples."""
    counts = Counter(v for v in labels if v is not None)
    rare = sorted((n, str(c)) for c, n in counts.items() if n < minimum)
    if rare:
        n, c = rare[0]
        more = f" (and {len(rare) - 1} more)" if len(rare) > 1 else ""
        raise RnnscopeError(f"{what} {c!r} has only {n} example{'s' if n != 1 else ''}{more}: "
                            f"need at least {minimum} to train and test; merge rare classes "
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


def control_labels(words: Sequence, labels: Sequence, seed: int = 0) -> np.ndarray:
    """Hewitt & Liang control task: one random label per word type, same label distribution.

    Each word type gets a label sampled from the empirical distribution of ``labels`` (N/A
    excluded); rows whose real label is ``None`` stay ``None`` so the same tokens are scored.
    """
    labels = np.asarray(labels, dtype=object)
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
