"""Pictures of span matches and of word-set PCA.

- :func:`match_view` (and :func:`match_view_of` for a :class:`~rnnscope.analysis.match.MatchResult`):
  LSTMVis's match view: one row per match (the selection first), the tokens aligned on the
  start of the matched span, each token's cell coloured by the mean activation of the
  selected units (colour bar underneath), the matched span outlined, and an annotation track
  (e.g. UPOS) under every row;
- :func:`match_grid`: which selected units are on across each match (the CLI's ``match
  --figure``);
- :func:`word_set_scatter`: PC1/PC2 of a word set's states.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colormaps, patheffects  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.figures.io import FIXED_LAYOUT  # noqa: E402

_VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥"}
#: gid of the outline of each row's matched span (tests and readers can count rows by it)
SPAN_GID = "match-span"


def _shown(token, max_chars: int) -> str:
    s = "".join(_VISIBLE.get(ch, ch) for ch in str(token))
    return s if len(s) <= max_chars else s[:max_chars - 1] + "…"


def match_view(tokens: Sequence[Sequence[str]], values: Sequence[Sequence[float]],
               spans: Sequence[tuple[int, int]], annotations: Sequence[Sequence] | None = None,
               labels: Sequence[str] | None = None, annotation_name: str = "tag",
               value_label: str = "mean activation of the selected units",
               title: str | None = None, max_chars: int = 10) -> Figure:
    """LSTMVis's match view: rows of tokens aligned on their matched span, coloured by value.

    Row ``k`` shows ``tokens[k]`` (a window of text), each cell coloured by ``values[k][i]``
    on a diverging scale centred at 0 (the colour bar underneath), with ``tokens[k][a:b]``
    (``spans[k] = (a, b)``) outlined; all rows are aligned on ``a``. ``annotations[k]`` (one
    tag per token, e.g. UPOS; None for none) is written under the row as an annotation track
    named ``annotation_name``. ``labels[k]`` names the row (e.g. ``selection``, ``#1``).
    """
    n = len(tokens)
    if n == 0:
        raise RnnscopeError("no rows to draw")
    if len(values) != n or len(spans) != n or (annotations is not None and len(annotations) != n):
        raise RnnscopeError(f"{n} token rows need as many value rows, spans and annotation rows")
    labels = list(labels) if labels is not None else [f"#{k + 1}" for k in range(n)]
    rows = []
    for k in range(n):
        toks = [_shown(t, max_chars) for t in tokens[k]]
        vals = np.asarray(values[k], dtype=float)
        a, b = (int(x) for x in spans[k])
        if len(vals) != len(toks):
            raise RnnscopeError(f"row {k}: {len(toks)} tokens but {len(vals)} values")
        if not 0 <= a < b <= len(toks):
            raise RnnscopeError(f"row {k}: span {a}:{b} is outside its {len(toks)} tokens")
        tags = None
        if annotations is not None and annotations[k] is not None:
            tags = ["" if t is None or (isinstance(t, float) and np.isnan(t)) else _shown(t, max_chars)
                    for t in annotations[k]]
            if len(tags) != len(toks):
                raise RnnscopeError(f"row {k}: {len(toks)} tokens but {len(tags)} annotations")
        widths = [max(len(t), len(g) if tags else 0, 1) + 1 for t, g in zip(toks, tags or toks)]
        x0 = np.r_[0, np.cumsum(widths)][:-1] - sum(widths[:a])   # the span starts at x = 0
        rows.append((toks, vals, a, b, tags, widths, x0))
    finite = np.concatenate([r[1][np.isfinite(r[1])] for r in rows] + [np.zeros(1)])
    vmax = float(np.max(np.abs(finite))) or 1.0
    norm, cmap = Normalize(-vmax, vmax), colormaps["RdBu"]
    has_tags = any(r[4] is not None for r in rows)
    row_h = 2.3 if has_tags else 1.5
    left = min(float(r[6][0]) for r in rows)
    right = max(float(r[6][-1] + r[5][-1]) for r in rows)
    label_w = max(len(lab) for lab in labels) + 2
    span_w = right - left + label_w
    fig = Figure(figsize=(min(16.0, 0.5 + 0.078 * span_w), 1.15 + 0.3 * row_h * n + (0.35 if title else 0)))
    height = fig.get_figheight()
    bottom = 0.75 / height
    top_pad = (0.4 if title else 0.1) / height
    ax = fig.add_axes((0.01, bottom, 0.98, 1 - bottom - top_pad))
    cells, faces = [], []
    for k, (toks, vals, a, b, tags, widths, x0) in enumerate(rows):
        y = -k * row_h
        for i, (t, v, w, x) in enumerate(zip(toks, vals, widths, x0)):
            cells.append(Rectangle((x, y - 1), w, 1))
            faces.append("#dddddd" if not np.isfinite(v) else cmap(norm(v)))
            dark = np.isfinite(v) and abs(norm(v) - 0.5) > 0.33
            ax.text(x + w / 2, y - 0.5, t, ha="center", va="center", family="monospace",
                    fontsize=7.5, color="white" if dark else "#111111",
                    fontweight="bold" if a <= i < b else "normal")
            if tags is not None:
                ax.text(x + w / 2, y - 1.45, tags[i], ha="center", va="center",
                        family="monospace", fontsize=5.5, color="#666666")
        sx, ex = float(x0[a]), float(x0[b - 1] + widths[b - 1])
        outline = Rectangle((sx, y - 1), ex - sx, 1, fill=False, lw=1.8,
                            edgecolor="#ff7f0e" if k == 0 and labels[0].startswith("sel") else "#111111")
        outline.set_gid(SPAN_GID)
        outline.set_zorder(3)
        ax.add_patch(outline)
        ax.text(left - 1, y - 0.5, labels[k], ha="right", va="center", fontsize=7.5)
        if tags is not None:
            ax.text(left - 1, y - 1.45, annotation_name, ha="right", va="center", fontsize=5.5,
                    color="#666666", style="italic")
    ax.add_collection(PatchCollection(cells, facecolors=faces, edgecolors="white", linewidths=0.5,
                                      zorder=1))                  # one artist for all cells
    ax.set_xlim(left - label_w, right + 0.5)
    ax.set_ylim(-(n - 1) * row_h - (2.0 if has_tags else 1.1), 0.15)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    handles = [Line2D([], [], color="#111111", lw=1.8, label="matched span")]
    if labels[0].startswith("sel"):
        handles.insert(0, Line2D([], [], color="#ff7f0e", lw=1.8, label="selection"))
    fig.legend(handles=handles, loc="lower right", fontsize=7, frameon=False,
               bbox_to_anchor=(0.99, 0.0), ncols=len(handles))
    cax = fig.add_axes((0.2, 0.42 / height, 0.4, 0.12 / height))
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal")
    cax.tick_params(labelsize=7)
    cax.set_xlabel(value_label, fontsize=7.5)
    setattr(fig, FIXED_LAYOUT, True)
    return fig


def match_view_of(result, states, token_table: pd.DataFrame, annotation: str | None = None,
                  context: int = 5, max_rows: int = 10, title: str | None = None,
                  max_chars: int = 10) -> Figure:
    """:func:`match_view` of a span-matching result: the selection then its top ``max_rows``
    matches, ``context`` tokens either side (within the sentence), coloured by the mean over
    the selected units of ``states`` (rows aligned with ``token_table``), with the
    ``annotation`` column (e.g. ``"upos"``) as the track under each row."""
    units = np.asarray(result.units, dtype=np.int64)
    if len(units) == 0:
        raise RnnscopeError("the selection has no units on across it: nothing to colour by")
    sids = token_table["sentence"].to_numpy()
    toks = token_table["token"].astype(str).to_numpy()
    tags = token_table[annotation].to_numpy() if annotation else None
    spans = [(result.selection.row_start, result.selection.row_end)]
    spans += [(int(r.row_start), int(r.row_end)) for r in result.table.head(max_rows).itertuples()]
    labels = ["selection"] + [f"#{int(r)}" for r in result.table["rank"].head(max_rows)]
    rows_t, rows_v, rows_g, rows_s = [], [], [], []
    for s, e in spans:
        lo, hi = max(0, s - context), min(len(sids), e + context)
        while sids[lo] != sids[s]:
            lo += 1
        while sids[hi - 1] != sids[s]:
            hi -= 1
        v = np.asarray(states[lo:hi], dtype=np.float32)[:, units].mean(axis=1)
        rows_t.append(toks[lo:hi].tolist())
        rows_v.append(v)
        rows_g.append(None if tags is None else tags[lo:hi].tolist())
        rows_s.append((s - lo, e - lo))
    scale = getattr(result, "scale", "raw")
    what = "state" if scale == "raw" else "tanh(state)"
    return match_view(rows_t, rows_v, rows_s, annotations=rows_g if tags is not None else None,
                      labels=labels, annotation_name=annotation or "",
                      value_label=f"mean {what} of the {len(units)} selected units", title=title,
                      max_chars=max_chars)


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


def word_set_scatter(result, max_labels: int = 30) -> Figure:
    """PC1/PC2 of a word set's states, coloured by group (legend); at most ``max_labels``
    points labelled with their word (one per word type, labels never overlapping)."""
    from rnnscope.figures.lexical import place_labels
    t = result.table
    fig = Figure(figsize=(6, 5))
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.12, 0.1, 0.84, 0.82))
    for label, part in t.groupby("label", sort=False):
        ax.scatter(part["pc1"], part["pc2"], s=14, label=str(label), alpha=0.8)
    ev = result.explained_variance_ratio
    ax.set_xlabel(f"PC1 ({100 * ev[0]:.1f}% of variance)")
    ax.set_ylabel(f"PC2 ({100 * ev[1]:.1f}% of variance)" if len(ev) > 1 else "PC2")
    sep = "" if result.separation is None else f"  silhouette {result.separation:+.3f}"
    ax.set_title(f"states of the word set{sep}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    x, y = t["pc1"].to_numpy(float), t["pc2"].to_numpy(float)
    if len(t):
        px, py = 0.05 * (np.ptp(x) + 1e-9), 0.05 * (np.ptp(y) + 1e-9)
        ax.set_xlim(x.min() - px, x.max() + px)
        ax.set_ylim(y.min() - py, y.max() + 3 * py)
        first = ~t["token"].astype(str).duplicated().to_numpy()   # one label per word type
        place_labels(ax, np.c_[x, y][first], t["token"].astype(str)[first].tolist(), max_labels,
                     canvas.get_renderer(), fontsize=7, color="#111111",
                     path_effects=[patheffects.withStroke(linewidth=2, foreground="white")])
    setattr(fig, FIXED_LAYOUT, True)
    return fig
