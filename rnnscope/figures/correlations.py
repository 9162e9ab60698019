"""Unit–feature correlations in one figure (seed 000 Fig. 3, all features side by side)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnnscope.figures.curves import need_columns  # noqa: E402
from rnnscope.figures.io import FIXED_LAYOUT  # noqa: E402

#: gid of each box (one per feature and key)
BOX_GID = "correlation-box"


def correlation_overview(table: pd.DataFrame, by: str = "pearson",
                         highlight: Sequence[int] = (), title: str | None = None,
                         features: Sequence[str] | None = None) -> Figure:
    """Every unit's correlation with every feature on one axis: a box per feature (and key),
    one grey dot per unit, the ``highlight`` units as coloured markers (legend), and the unit
    with the largest ``|r|`` of each feature named.

    ``table`` columns: ``key``, ``unit``, ``feature`` and ``by`` (``pearson`` or
    ``spearman``), one row per (key, unit, feature), as ``CorrelationResult.table``.
    """
    need_columns(table, ["key", "unit", "feature", by], "correlation_overview")
    feats = list(features) if features is not None else list(dict.fromkeys(table["feature"]))
    keys = list(dict.fromkeys(table["key"]))
    key_colours = colormaps["tab10"].colors
    unit_colours = colormaps["Dark2"].colors
    side = bool(highlight) or len(keys) > 1                      # a legend right of the axis
    width = max(4.5, 1.2 * len(feats) * len(keys) ** 0.5 + (2.6 if side else 1.0))
    fig = Figure(figsize=(width, 3.8))
    ax = fig.add_axes((0.75 / width, 0.17, 1 - (2.0 if side else 0.95) / width, 0.72))
    width = 0.7 / len(keys)                                        # of a box, in axis units
    rng = np.random.default_rng(0)
    for j, key in enumerate(keys):
        for i, feat in enumerate(feats):
            part = table[(table["feature"] == feat) & (table["key"] == key)]
            r = part[by].to_numpy(dtype=float)
            ok = np.isfinite(r)
            if not ok.any():
                continue
            x = i + (j - (len(keys) - 1) / 2) * width
            box = ax.boxplot(r[ok], positions=[x], widths=width * 0.8, showfliers=False,
                             patch_artist=True, manage_ticks=False)
            for b in box["boxes"]:
                b.set(facecolor=(*key_colours[j % 10][:3], 0.25), edgecolor=key_colours[j % 10])
                b.set_gid(BOX_GID)
            for m in box["medians"]:
                m.set_color("#333333")
            ax.scatter(x + rng.uniform(-0.25, 0.25, ok.sum()) * width, r[ok], s=4,
                       color="#888888", alpha=0.6, lw=0, zorder=3)
            best = int(np.nanargmax(np.abs(r)))
            ax.annotate(f"u{int(part['unit'].iloc[best])}", (x, r[best]), xytext=(6, 0),
                        textcoords="offset points", fontsize=7, va="center", color="#333333")
            for c, unit in enumerate(highlight):
                hit = part["unit"].to_numpy() == unit
                if hit.any():
                    ax.scatter([x], r[hit][:1], s=28, marker="D", zorder=4,
                               color=unit_colours[c % 8], edgecolors="black", lw=0.4,
                               label=f"unit {unit}" if i == 0 and j == 0 else None)
    ax.axhline(0, color="#999999", lw=0.6)
    ax.set_xticks(range(len(feats)), [str(f).replace("_", " ") for f in feats], fontsize=8)
    ax.set_xlim(-0.6, len(feats) - 0.4)
    lim = float(np.nanmax(np.abs(table[by].to_numpy(dtype=float)))) if len(table) else 1.0
    ax.set_ylim(-1.12 * lim - 0.02, 1.12 * lim + 0.02)
    ax.set_ylabel(f"{by} r (one dot per unit)", fontsize=8)
    ax.tick_params(axis="y", labelsize=7)
    handles, labels = ax.get_legend_handles_labels()
    if len(keys) > 1:
        from matplotlib.patches import Patch
        handles += [Patch(facecolor=(*key_colours[j % 10][:3], 0.25), edgecolor=key_colours[j % 10],
                          label=k) for j, k in enumerate(keys)]
        labels += keys
    if handles:
        ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  frameon=False, title="units of interest" if highlight else None,
                  title_fontsize=7)
    ax.set_title(title or f"correlation of every unit with each feature"
                 f"{' (' + keys[0] + ')' if len(keys) == 1 else ''}", fontsize=9, loc="left")
    setattr(fig, FIXED_LAYOUT, True)
    return fig
