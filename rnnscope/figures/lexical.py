"""How one unit responds across the vocabulary (seed 000's lexical space).

PCA of the model's embedding matrix gives every word a place (PC1, PC2).

- :func:`lexical_space` is seed 000's picture as published: every word's text coloured by PCs
  1-3 rescaled to RGB, its font size growing with ``log frequency × |mean activation|`` and its
  opacity with its activation relative to the strongest one (the CLI's ``figure lexical``);
- :func:`lexical_preference` is the legible version the report shows: the words as dots in
  the same PC plane coloured by the unit's mean activation (colour bar), sized by log
  frequency, only the ``max_labels`` words with the largest ``log frequency × |mean
  activation|`` labelled and no two labels overlapping; beside it the ranked list of the words
  with the highest and the lowest mean activation.
"""
from __future__ import annotations

from collections.abc import Sequence


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colormaps, patheffects  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402

from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.figures.io import FIXED_LAYOUT  # noqa: E402


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
    _check_vocabulary(embeddings, words, freq, act)
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


#: gid of the word labels of :func:`lexical_preference`'s scatter
LABEL_GID = "word-label"
#: where a label may go around its dot (offset in points, alignment)
_PLACES = [((4, 3), "left", "bottom"), ((4, -3), "left", "top"), ((-4, 3), "right", "bottom"),
           ((-4, -3), "right", "top"), ((6, 0), "left", "center"), ((-6, 0), "right", "center"),
           ((0, 6), "center", "bottom"), ((0, -6), "center", "top")]


def _check_vocabulary(embeddings, words, freq, act) -> None:
    if not (len(words) == len(freq) == len(act) == len(embeddings)):
        raise RnnscopeError("embeddings, words, frequency and mean_activation must have one "
                            f"entry per vocabulary item ({len(embeddings)}, {len(words)}, "
                            f"{len(freq)}, {len(act)})")


def place_labels(ax, points: np.ndarray, texts: Sequence[str], max_labels: int,
                 renderer, pad: float = 1.5, **style) -> list:
    """Label ``points`` (data coordinates, in priority order) with ``texts``, skipping any label
    that would overlap one already placed or leave the axes; at most ``max_labels``.

    Each label tries the places around its point in :data:`_PLACES` order. Returns the placed
    ``Text`` artists (gid :data:`LABEL_GID`). The axes' limits and position must be final.
    """
    inside = ax.get_window_extent(renderer)
    placed: list = []
    boxes: list[Bbox] = []
    for (x, y), text in zip(points, texts):
        if len(placed) >= max_labels:
            break
        for offset, ha, va in _PLACES:
            t = ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", ha=ha,
                            va=va, **style)
            box = t.get_window_extent(renderer).padded(pad)
            if (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0
                    and box.y1 <= inside.y1 and not any(box.overlaps(b) for b in boxes)):
                t.set_gid(LABEL_GID)
                placed.append(t)
                boxes.append(box)
                break
            t.remove()
    return placed


def lexical_preference(embeddings: np.ndarray, words: Sequence[str], frequency: Sequence[float],
                       mean_activation: Sequence[float], title: str | None = None,
                       max_labels: int = 20, n_ranked: int = 10, min_count: int = 3,
                       value_label: str = "mean activation over the word's occurrences") -> Figure:
    """The unit's lexical preference: embedding-PC scatter coloured by mean activation, plus the
    ranked words with the highest and lowest mean activation.

    Inputs as :func:`lexical_space` (one entry per vocabulary item; ``frequency`` 0 and
    ``mean_activation`` NaN for unseen words). Left: every word a faint grey dot at its
    embedding (PC1, PC2); every seen word a dot coloured by its mean activation (diverging
    scale centred at 0, colour bar below), sized by log frequency; the ``max_labels`` words
    with the largest ``log(1 + frequency) × |mean activation|`` (seed 000's size score) that
    fit without overlapping are labelled. Right: the ``n_ranked`` words with the highest and
    the ``n_ranked`` with the lowest mean activation among words seen at least ``min_count``
    times (fewer if the corpus has too few), with their counts.
    """
    words = [str(w) for w in words]
    freq = np.asarray(frequency, dtype=float)
    act = np.asarray(mean_activation, dtype=float)
    _check_vocabulary(embeddings, words, freq, act)
    pcs = embedding_pcs(embeddings, n=2)
    seen = np.isfinite(act) & (freq > 0)
    if not seen.any():
        raise RnnscopeError("no vocabulary item has an activation (is the corpus empty?)")
    common = seen & (freq >= min_count)
    if common.sum() < 2 * n_ranked:
        common = seen
    vmax = float(np.nanmax(np.abs(act[common]))) or 1.0
    norm, cmap = Normalize(-vmax, vmax), colormaps["RdBu"]

    fig = Figure(figsize=(10.5, 5.4))
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.06, 0.22, 0.56, 0.68))
    ax.scatter(pcs[~seen, 0], pcs[~seen, 1], s=2, c="#bbbbbb", alpha=0.35, lw=0)
    idx = np.flatnonzero(seen)
    idx = idx[np.argsort(freq[idx])[::-1]]            # rare words drawn last, on top
    size = 4 + 40 * np.log1p(freq[idx]) / np.log1p(freq[idx].max())
    ax.scatter(pcs[idx, 0], pcs[idx, 1], s=size, c=act[idx], cmap=cmap, norm=norm,
               edgecolors="#333333", linewidths=0.2, alpha=0.9)
    pad = 0.04 * (pcs.max(0) - pcs.min(0) + 1e-9)
    ax.set_xlim(pcs[:, 0].min() - pad[0], pcs[:, 0].max() + pad[0])
    ax.set_ylim(pcs[:, 1].min() - pad[1], pcs[:, 1].max() + pad[1])
    ax.set_xlabel("embedding PC1", fontsize=8)
    ax.set_ylabel("embedding PC2", fontsize=8)
    ax.tick_params(labelsize=7)
    score = np.where(seen, np.log1p(np.maximum(freq, 0)) * np.abs(np.nan_to_num(act)), -np.inf)
    order = np.argsort(-score)
    order = order[np.isfinite(score[order]) & (score[order] > 0)]
    place_labels(ax, pcs[order], [words[i] for i in order], max_labels, canvas.get_renderer(),
                 fontsize=7.5, color="#111111",
                 path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
    ax.set_title(f"where in embedding space (labelled: top {max_labels} by log freq × |mean|)",
                 fontsize=8.5, loc="left")
    cax = fig.add_axes((0.14, 0.075, 0.4, 0.03))
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal")
    cax.tick_params(labelsize=7)
    cax.set_xlabel(value_label + " (dot size: log frequency)", fontsize=7.5)

    cand = np.flatnonzero(common)
    ranked = cand[np.argsort(-act[cand], kind="stable")]
    k = min(n_ranked, max(1, len(ranked) // 2))
    high, low = ranked[:k], ranked[max(k, len(ranked) - k):]   # descending: lowest at the bottom
    bx = fig.add_axes((0.77, 0.22, 0.21, 0.68))
    shown = list(high) + list(low)
    y = np.r_[np.arange(len(high)), np.arange(len(low)) + len(high) + 1][:len(shown)]
    bx.barh(y, act[shown], color=[cmap(norm(act[i])) for i in shown], edgecolor="#333333", lw=0.3)
    bx.set_yticks(y, [f"{words[i]} ({int(freq[i])})" for i in shown], fontsize=7)
    bx.invert_yaxis()
    bx.axvline(0, color="#777777", lw=0.6)
    bx.tick_params(axis="x", labelsize=7)
    bx.set_xlabel("mean activation", fontsize=8)
    least = int(freq[cand].min()) if len(cand) else 1
    bx.set_title(f"highest / lowest (words seen ≥ {least}×)", fontsize=8.5, loc="left")
    if title:
        fig.suptitle(title, fontsize=10, x=0.06, ha="left", y=0.985)
    setattr(fig, FIXED_LAYOUT, True)
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
