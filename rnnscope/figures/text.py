"""Text coloured token by token (seed 002): by ``tanh`` of a unit, or by a probe's probability.

Each token is drawn in a monospaced cell whose background is its colour; the token's tag (e.g.
its POS) is written underneath, and cells whose tag is the class of interest get a yellow tag
background. Lines wrap at ``width`` characters. Separators are shown as ``␣``.
"""
from __future__ import annotations

from collections.abc import Sequence


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Colormap, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from rnnscope.errors import RnnscopeError  # noqa: E402

HIGHLIGHT = "#ffe14d"
_VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥"}


def text_activation(tokens: Sequence[str], values: Sequence[float], tags: Sequence | None = None,
                    highlight: str | None = None, title: str | None = None,
                    width: int = 80, normalise: bool = False) -> Figure:
    """Tokens coloured by ``tanh(value)``: -1 red, 0 white, +1 blue (seed 002's picture).

    ``values`` are raw states (tanh is applied here); ``tags`` (optional) are written under the
    tokens, and those equal to ``highlight`` are marked yellow. ``normalise`` colours by
    ``tanh(value) / max |tanh(value)|`` instead, for units whose activations stay small.
    """
    colours = np.tanh(np.asarray(values, dtype=float))
    label = "tanh(activation)"
    if normalise:
        peak = float(np.nanmax(np.abs(colours))) if colours.size else 0.0
        if peak > 0:
            colours = colours / peak
            label = f"tanh(activation) / {peak:.3g}"
    return _text_grid(tokens, colours, plt.get_cmap("RdBu"), Normalize(-1, 1), tags, highlight,
                      title, width, label=label)


def text_probability(tokens: Sequence[str], probabilities: Sequence[float],
                     tags: Sequence | None = None, highlight: str | None = None,
                     title: str | None = None, width: int = 80) -> Figure:
    """Tokens coloured by a classifier's probability of the class: 0 white, 1 blue."""
    p = np.asarray(probabilities, dtype=float)
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1):
        raise RnnscopeError("probabilities must lie in [0, 1]")
    return _text_grid(tokens, p, plt.get_cmap("Blues"), Normalize(0, 1), tags, highlight,
                      title, width, label="probability")


def _text_grid(tokens: Sequence[str], values: np.ndarray, cmap: Colormap, norm: Normalize,
               tags: Sequence | None, highlight: str | None, title: str | None, width: int,
               label: str) -> Figure:
    tokens = [str(t) for t in tokens]
    if not tokens:
        raise RnnscopeError("no tokens to draw")
    if len(tokens) != len(values):
        raise RnnscopeError(f"{len(tokens)} tokens but {len(values)} values to colour them with")
    if tags is not None and len(tags) != len(tokens):
        raise RnnscopeError(f"{len(tokens)} tokens but {len(tags)} tags")
    shown = ["".join(_VISIBLE.get(ch, ch) for ch in t) for t in tokens]
    tag_text = [("" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t))
                for t in (tags if tags is not None else [None] * len(tokens))]
    cells = [max(len(s), len(g) if tags is not None else 0, 1) + (1 if len(s) > 1 else 0)
             for s, g in zip(shown, tag_text)]
    places, x, line = [], 0, 0
    for w in cells:
        if x + w > width and x > 0:
            x, line = 0, line + 1
        places.append((x, line))
        x += w
    n_lines = line + 1
    line_h = 2.2 if tags is not None else 1.2
    fig_w = min(width, max(x for x, _ in places) + max(cells)) * 0.12 + 0.6
    fig = plt.figure(figsize=(max(fig_w, 3.0), n_lines * line_h * 0.25 + 0.9))
    ax = fig.add_axes((0.01, 0.22, 0.98, 0.7 if title else 0.76))
    for (x, ln), w, s, g, v in zip(places, cells, shown, tag_text, values):
        y = -ln * line_h
        face = "#dddddd" if np.isnan(v) else cmap(norm(v))
        ax.add_patch(Rectangle((x, y - 1), w, 1, facecolor=face, edgecolor="white", lw=0.5))
        ax.text(x + w / 2, y - 0.5, s, ha="center", va="center", family="monospace", fontsize=8)
        if tags is not None:
            hit = highlight is not None and g == str(highlight)
            if hit:
                ax.add_patch(Rectangle((x, y - 2), w, 0.95, facecolor=HIGHLIGHT, lw=0))
            ax.text(x + w / 2, y - 1.5, g, ha="center", va="center", family="monospace",
                    fontsize=6, color="#222222" if hit else "#777777")
    ax.set_xlim(0, max(width, 1) if n_lines > 1 else max(x + w for (x, _), w in zip(places, cells)))
    ax.set_ylim(-n_lines * line_h, 0.1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    cax = fig.add_axes((0.3, 0.06, 0.4, 0.05))
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal",
                 label=label)
    return fig
