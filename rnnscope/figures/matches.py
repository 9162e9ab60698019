"""Pictures of span matches (which selected units are on where) and of word-set PCA."""
from __future__ import annotations


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def match_grid(result, max_rows: int = 20) -> Figure:
    """Rows: the selection, then each match; columns: the selected units; dark = on across it."""
    units = [int(u) for u in result.units]
    table = result.table.head(max_rows)
    labels = [f"selection: {result.selection.text}"] + [
        f"#{r.rank} s{r.sentence}:{r.start}  {r.text}" for r in table.itertuples()]
    grid = np.ones((len(labels), max(len(units), 1)))
    for k, shared in enumerate(table["shared_units"], start=1):
        grid[k] = [u in set(shared) for u in units] if units else 0
    fig, ax = plt.subplots(figsize=(min(12, 3 + 0.25 * len(units)), 0.9 + 0.28 * len(labels)))
    ax.imshow(grid, aspect="auto", cmap="Greys", vmin=0, vmax=1.4, interpolation="nearest")
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels([lab[:60] for lab in labels], fontsize=7)
    ax.set_xticks(range(len(units)))
    ax.set_xticklabels(units, rotation=90, fontsize=6)
    ax.set_xlabel(f"selected units (on across the span, tanh > {result.threshold:g})")
    fig.tight_layout()
    return fig


def word_set_scatter(result) -> Figure:
    """PC1/PC2 of a word set's states, coloured by group, each point labelled with its word."""
    t = result.table
    fig, ax = plt.subplots(figsize=(6, 5))
    for label, part in t.groupby("label", sort=False):
        ax.scatter(part["pc1"], part["pc2"], s=14, label=str(label), alpha=0.8)
    for row in t.head(200).itertuples():
        ax.annotate(str(row.token), (row.pc1, row.pc2), fontsize=6, alpha=0.6)
    ev = result.explained_variance_ratio
    ax.set_xlabel(f"PC1 ({ev[0]:.0%})")
    ax.set_ylabel(f"PC2 ({ev[1]:.0%})" if len(ev) > 1 else "PC2")
    sep = "" if result.separation is None else f"  silhouette {result.separation:.2f}"
    ax.set_title(f"states of the word set{sep}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
