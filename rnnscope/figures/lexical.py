"""The lexical-space picture of seed 000: how one unit responds across the vocabulary.

PCA of the model's embedding matrix gives every word a place (PC1, PC2) and a colour (PCs 1-3
rescaled to RGB). For a target unit, a word's font size grows with ``log frequency × |mean
activation|`` and its opacity with its activation relative to the strongest one, so the words
the unit fires for stand out as large, solid text.
"""
from __future__ import annotations

from collections.abc import Sequence


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnnscope.errors import RnnscopeError  # noqa: E402


def embedding_pcs(embeddings: np.ndarray, n: int = 3) -> np.ndarray:
    """First ``n`` principal-component coordinates of every row of the embedding matrix."""
    from sklearn.decomposition import PCA
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] <= n or e.shape[1] < n:
        raise RnnscopeError(f"need an embedding matrix with > {n} rows and >= {n} columns, "
                            f"got shape {e.shape}")
    return PCA(n_components=n).fit_transform(e)


def lexical_space(embeddings: np.ndarray, words: Sequence[str], frequency: Sequence[float],
                  mean_activation: Sequence[float], title: str | None = None,
                  max_words: int = 150, font_range: tuple[float, float] = (4.0, 22.0)) -> Figure:
    """Draw the vocabulary in embedding-PC space, sized and faded by a unit's mean activation.

    ``embeddings`` [V, E], ``words`` [V], ``frequency`` [V] (counts; 0 = unseen) and
    ``mean_activation`` [V] (the unit's mean over the word's occurrences; NaN = unseen) all
    index the same vocabulary. Only the ``max_words`` words with the largest
    ``log(1 + frequency) × |mean activation|`` are written; every word is a faint dot.
    """
    words = [str(w) for w in words]
    freq = np.asarray(frequency, dtype=float)
    act = np.asarray(mean_activation, dtype=float)
    if not (len(words) == len(freq) == len(act) == len(embeddings)):
        raise RnnscopeError("embeddings, words, frequency and mean_activation must have one "
                            f"entry per vocabulary item ({len(embeddings)}, {len(words)}, "
                            f"{len(freq)}, {len(act)})")
    pcs = embedding_pcs(embeddings)
    lo, hi = pcs.min(axis=0), pcs.max(axis=0)
    rgb = 0.85 * (pcs - lo) / np.where(hi > lo, hi - lo, 1.0)
    seen = np.isfinite(act) & (freq > 0)
    if not seen.any():
        raise RnnscopeError("no vocabulary item has an activation (is the corpus empty?)")
    strength = np.where(seen, np.abs(np.nan_to_num(act)), 0.0)
    score = np.log1p(np.maximum(freq, 0)) * strength
    top = np.argsort(-score)[:max_words]
    top = top[score[top] > 0]
    smax = score[top].max() if len(top) else 1.0
    amax = strength.max() or 1.0
    fig, ax = plt.subplots(figsize=(8, 6.5))
    ax.scatter(pcs[:, 0], pcs[:, 1], s=3, c=rgb, alpha=0.25, lw=0)
    for i in top[::-1]:  # strongest drawn last (on top)
        size = font_range[0] + (font_range[1] - font_range[0]) * score[i] / smax
        alpha = float(np.clip(strength[i] / amax, 0.1, 1.0))
        ax.text(pcs[i, 0], pcs[i, 1], words[i], fontsize=size, color=rgb[i], alpha=alpha,
                ha="center", va="center")
    ax.set_xlabel("embedding PC1")
    ax.set_ylabel("embedding PC2")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def word_statistics(tokens: pd.Series, values: np.ndarray, vocabulary: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per vocabulary item: corpus frequency and mean of ``values`` over its occurrences.

    ``tokens`` (one per row of ``values``) are looked up in ``vocabulary``; items never seen get
    frequency 0 and mean NaN. Feeds :func:`lexical_space` from a store's token column.
    """
    frame = pd.DataFrame({"token": tokens.astype(str).to_numpy(), "v": np.asarray(values, dtype=float)})
    stats = frame.groupby("token")["v"].agg(["size", "mean"])
    stats = stats.reindex([str(w) for w in vocabulary])
    return stats["size"].fillna(0).to_numpy(), stats["mean"].to_numpy()
