"""Line, bar and histogram figures: a unit's distribution, a sentence's trajectory, and the
summary tables of probes (accuracy per component), state gradients (memory curves) and
agreement (gate/cell dynamics per condition).

The table-driven functions take pandas frames with the documented columns, so any analysis that
produces such a table can be drawn without depending on its module.
"""
from __future__ import annotations

from collections.abc import Sequence


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.figures.io import FIXED_LAYOUT  # noqa: E402


def need_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """A clear error when ``table`` lacks ``columns`` or is empty (``what``: the figure)."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise RnnscopeError(f"{what} needs a table with columns {', '.join(columns)}; "
                            f"missing {', '.join(missing)}")
    if len(table) == 0:
        raise RnnscopeError(f"{what}: the table is empty")


def match_histogram(values: Sequence[float], match: Sequence[bool], title: str | None = None,
                    labels: tuple[str, str] = ("match", "no match"), bins: int = 40) -> Figure:
    """Histogram of a unit's activation for tokens that match a class vs the rest (seed 002)."""
    v = np.asarray(values, dtype=float)
    m = np.asarray(match, dtype=bool)
    if v.shape != m.shape:
        raise RnnscopeError(f"{v.size} values but {m.size} match flags")
    if v.size == 0:
        raise RnnscopeError("no values to draw")
    edges = np.histogram_bin_edges(v[np.isfinite(v)], bins=bins)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for part, colour, label in ((v[~m], "#d62728", labels[1]), (v[m], "#1f77b4", labels[0])):
        if part.size:  # an empty group has no density to draw
            ax.hist(part, bins=edges, alpha=0.6, color=colour, label=f"{label} (n={part.size})",
                    density=True, histtype="stepfilled")  # one patch, not one per bin: fast
    ax.set_xlabel("activation")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def activation_over_positions(tokens: Sequence[str], values: np.ndarray,
                              labels: Sequence[str] | None = None,
                              title: str | None = None) -> Figure:
    """Activation of one or more units along a sentence; tokens on the x axis."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    if len(tokens) != v.shape[0] or v.shape[0] == 0:
        raise RnnscopeError(f"{len(tokens)} tokens but {v.shape[0]} activation rows")
    labels = list(labels) if labels is not None else [f"unit {k}" for k in range(v.shape[1])]
    fig, ax = plt.subplots(figsize=(min(14, 2 + 0.28 * len(tokens)), 3.2))
    x = np.arange(len(tokens))
    for k in range(v.shape[1]):
        ax.plot(x, v[:, k], marker="o", ms=3, lw=1.2, label=labels[k])
    ax.axhline(0, color="#999999", lw=0.6)
    ax.set_xticks(x)
    ax.set_xticklabels([str(t) if str(t).strip() else "␣" for t in tokens], rotation=90, fontsize=7)
    ax.set_ylabel("activation")
    if v.shape[1] <= 10:
        ax.legend(fontsize=7, loc="upper right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def component_accuracy(table: pd.DataFrame, title: str | None = None,
                       baseline: float | None = None) -> Figure:
    """Grouped bars of probe accuracy per component (x) and layer (colour).

    ``table`` columns: ``component``, ``layer``, ``accuracy``; ``baseline`` (e.g. majority
    class accuracy) is drawn as a dashed line.
    """
    need_columns(table, ["component", "layer", "accuracy"], "component_accuracy")
    pivot = table.pivot_table(index="component", columns="layer", values="accuracy", aggfunc="mean")
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(pivot) + 2), 3.2))
    n = pivot.shape[1]
    width = 0.8 / n
    x = np.arange(len(pivot))
    for k, layer in enumerate(pivot.columns):
        ax.bar(x + (k - (n - 1) / 2) * width, pivot[layer].to_numpy(), width, label=f"layer {layer}")
    if baseline is not None:
        ax.axhline(baseline, ls="--", color="#555555", lw=1, label="baseline")
    ax.set_xticks(x)
    ax.set_xticklabels(pivot.index)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def memory_curves(table: pd.DataFrame, title: str | None = None) -> Figure:
    """State-gradient memory curves: sigma_1 and the sigma_1 / sum ratio against the delay.

    ``table`` columns: ``delay``, ``sigma1``, ``ratio`` and a series column ``model`` (or
    ``state``); one line per series.
    """
    series = "model" if "model" in table.columns else "state"
    need_columns(table, ["delay", "sigma1", "ratio", series], "memory_curves")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2))
    for name, part in table.sort_values("delay").groupby(series, sort=False):
        a1.plot(part["delay"], part["sigma1"], marker=".", label=str(name))
        a2.plot(part["delay"], part["ratio"], marker=".", label=str(name))
    if (table["sigma1"] > 0).all():
        a1.set_yscale("log")
    a1.set_xlabel("delay τ")
    a1.set_ylabel("σ₁")
    a2.set_xlabel("delay τ")
    a2.set_ylabel("σ₁ / Σσ")
    a2.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def unit_memory(norms: dict, title: str | None = None, relative: bool = True) -> Figure:
    """Per-unit memory: each unit's gradient norm against the delay (``norms``: label ->
    ``[delays]`` values from τ = 0), relative to τ = 0 by default, one line per unit (legend),
    log scale when every value is positive."""
    if not norms:
        raise RnnscopeError("unit_memory needs at least one unit's curve")
    fig = Figure(figsize=(5.6, 3.2))
    ax = fig.add_axes((0.13, 0.16, 0.6, 0.72))
    positive = True
    for label, v in norms.items():
        v = np.asarray(v, dtype=float)
        y = v / v[0] if relative and v[0] > 0 else v
        positive &= bool((y > 0).all())
        ax.plot(np.arange(len(y)), y, marker=".", lw=1.2, label=str(label))
    if positive:
        ax.set_yscale("log")
    ax.set_xlabel("delay τ", fontsize=8)
    ax.set_ylabel("norm / norm at τ = 0" if relative else "gradient norm", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    if title:
        ax.set_title(title, fontsize=8.5, loc="left")
    setattr(fig, FIXED_LAYOUT, True)
    return fig


def dynamics_curves(table: pd.DataFrame, title: str | None = None,
                    ylabel: str = "activation") -> Figure:
    """Mean (± std band) of a unit or gate along positions, one line per condition (seed 004).

    ``table`` columns: ``position``, ``condition``, ``mean``, ``std``. ``position`` may be
    numbers or words (then drawn in order of first appearance).
    """
    need_columns(table, ["position", "condition", "mean", "std"], "dynamics_curves")
    fig, ax = plt.subplots(figsize=(6, 3.4))
    order = list(dict.fromkeys(table["position"]))
    numeric = all(isinstance(p, (int, float, np.integer, np.floating)) for p in order)
    for cond, part in table.groupby("condition", sort=False):
        x = part["position"].to_numpy(dtype=float) if numeric else \
            np.array([order.index(p) for p in part["position"]], dtype=float)
        mean, std = part["mean"].to_numpy(float), part["std"].to_numpy(float)
        ax.plot(x, mean, marker=".", label=str(cond))
        ax.fill_between(x, mean - std, mean + std, alpha=0.15)
    if not numeric:
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([str(p) for p in order], rotation=45, fontsize=8)
    ax.set_xlabel("position")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
