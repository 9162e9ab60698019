"""The token table of an extraction: one row per stored unit, with the corpus' annotations
(separators of char/byte models tagged ``SPACE``), built before the model runs."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rnnscope.corpus.types import AlignedSentence, Corpus
from rnnscope.store import TOKEN_COLUMNS

#: Tag columns whose value for separator units (spaces of char/byte models) is ``SPACE``.
TAG_COLUMNS = ("upos", "xpos")
SEPARATOR_TAG = "SPACE"


# -- the token table ------------------------------------------------------------------------------
def token_table(corpus: Corpus, aligned: list[AlignedSentence]) -> pd.DataFrame:
    """One row per model unit: position, token, its word, and the word's annotations.

    Separators of char/byte models have ``word_index == -1``, ``word`` missing and the tag
    ``SPACE`` in ``upos``/``xpos`` (other annotations missing). FEATS dicts become one column
    per key (``Number``, ``Tense``, ...). The word-level ``position`` annotation is dropped:
    ``word_index`` already is the word's position in its sentence.
    """
    names = [n for n in corpus.annotation_names if n not in ("feats", "position")]
    feat_keys: dict[str, None] = {}
    for s in corpus:
        for feats in s.annotations.get("feats") or []:
            feat_keys.update(dict.fromkeys(feats or {}))
    feat_cols = {f: (f"feats_{f}" if f in names or f in TOKEN_COLUMNS else f) for f in feat_keys}
    parts: dict[str, list] = {c: [] for c in (*TOKEN_COLUMNS, *names, *feat_cols.values())}
    for a in aligned:
        sentence = corpus[a.sentence_index]
        n = len(a)
        w = np.asarray(a.word_of_unit, dtype=np.int64)
        n_words = len(sentence.words)
        end = np.zeros(n, dtype=bool)
        end[np.asarray(a.last_unit_of_word, dtype=np.int64)] = True
        parts["sentence"].append(np.full(n, a.sentence_index, dtype=np.int64))
        parts["position"].append(np.arange(n, dtype=np.int64))
        parts["token"].append(np.asarray(a.units, dtype=object))
        parts["word"].append(_per_unit(sentence.words, w, None))
        parts["word_index"].append(w)
        parts["is_word_end"].append(end)
        for name in names:
            values = sentence.annotations.get(name) or [None] * n_words
            parts[name].append(_per_unit(values, w, SEPARATOR_TAG if name in TAG_COLUMNS else None))
        feats = sentence.annotations.get("feats") or [None] * n_words
        for f, col in feat_cols.items():
            parts[col].append(_per_unit([(d or {}).get(f) for d in feats], w, None))
    if not aligned:
        return pd.DataFrame({c: [] for c in parts})
    return pd.DataFrame({c: _column(np.concatenate(v)) for c, v in parts.items()})


def _per_unit(values: list, word_of_unit: np.ndarray, separator: Any) -> np.ndarray:
    """Word-level ``values`` spread over units; index -1 (separators) picks ``separator``."""
    table = np.empty(len(values) + 1, dtype=object)
    table[:-1] = values
    table[-1] = separator
    return table[word_of_unit]


def _column(values: np.ndarray) -> pd.Series:
    """A typed column: ints with gaps become floats with NaN, mixed types become strings."""
    if values.dtype != object:
        return pd.Series(values)
    col = pd.Series(values.tolist())
    if col.dtype == object:
        kinds = {type(v) for v in values if v is not None and v == v}
        if len(kinds) > 1:
            col = pd.Series([None if v is None else str(v) for v in values], dtype=object)
    return col


def with_derived(corpus: Corpus) -> Corpus:
    """The corpus with derived annotations (depth, length, ...) where the module is available."""
    try:
        from rnnscope.corpus.derived import add_derived
    except ImportError:  # not installed yet in this checkout
        return corpus
    result = add_derived(corpus)
    return corpus if result is None else result


