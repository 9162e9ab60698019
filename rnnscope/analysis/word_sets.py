"""PCA of the states of a chosen word set (:func:`word_set_pca`): the LSTMVis study's
quantitative follow-up to a hypothesis picked by span matching."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnscope.analysis.match import take_rows
from rnnscope.errors import RnnscopeError
from rnnscope.notebook import HtmlRepr


# -- PCA of a word set --------------------------------------------------------------------------------
@dataclass
class WordSetPCA(HtmlRepr):
    """States of chosen words projected on their principal components."""

    _html_plot = "plot"

    table: pd.DataFrame              # row, token, label, pc1, pc2, ...
    explained_variance_ratio: np.ndarray
    separation: float | None         # silhouette score of the labels in PC space (None if 1 label)

    def plot(self):
        """Scatter of PC1/PC2 coloured by label, each point annotated with its token."""
        from rnnscope.figures import word_set_scatter
        return word_set_scatter(self)


def word_set_pca(states, tokens: pd.DataFrame, groups: Mapping[str, Iterable[str]] | Iterable[str],
                 *, column: str = "token", rows_mask: np.ndarray | None = None,
                 n_components: int = 2, lowercase: bool = False) -> WordSetPCA:
    """PCA of the states at every occurrence of the words in ``groups`` (seed 001's follow-up).

    ``groups`` maps a label to its words (or is a plain list: one group). ``column`` is the
    token-table column to look words up in (``word`` with ``rows_mask=is_word_end`` reads a
    char model at the last character of each word). ``separation`` is the silhouette score of
    the labels in PC space: near 1 when the model separates the groups, near 0 when it does not.
    """
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    if not isinstance(groups, Mapping):
        groups = {"words": list(groups)}
    if column not in tokens.columns:
        raise RnnscopeError(f"token table has no column {column!r}")
    values = tokens[column].astype(str)
    if lowercase:
        values = values.str.lower()
    label = pd.Series([None] * len(tokens), dtype=object)
    for name, words in groups.items():
        words = [w.lower() if lowercase else w for w in words]
        hit = values.isin(words).to_numpy()
        if rows_mask is not None:
            hit &= np.asarray(rows_mask, dtype=bool)
        label[hit & label.isna().to_numpy()] = name
    rows = np.flatnonzero(label.notna().to_numpy())
    if len(rows) <= n_components:
        raise RnnscopeError(f"only {len(rows)} occurrence(s) of the chosen words; "
                            f"need more than {n_components} for a PCA")
    x = take_rows(states, rows)
    pca = PCA(n_components=n_components)
    pcs = pca.fit_transform(x)
    table = pd.DataFrame({"row": rows, "token": tokens[column].to_numpy()[rows],
                          "label": label.to_numpy()[rows]})
    for k in range(n_components):
        table[f"pc{k + 1}"] = pcs[:, k]
    labels = table["label"].to_numpy()
    n_labels = len(set(labels))
    sep = float(silhouette_score(pcs, labels)) if 1 < n_labels < len(rows) else None
    return WordSetPCA(table=table, explained_variance_ratio=pca.explained_variance_ratio_,
                      separation=sep)
