"""Gate and cell dynamics of chosen units over a task's words (seed Fig. 1a-b, 3), and their
efferent decoder weights to singular vs plural verb forms (Fig. 1d).

All sentences of one generated task have the same structure, so word position ``j`` means the
same slot (subject, preposition, ...) in every item; activity is averaged per condition with
its standard deviation. With ``include_verb`` the correct verb is appended, so the plot runs
through the verb as in the paper.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING


import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rnnscope.agreement.states import sentence_states  # noqa: E402
from rnnscope.agreement.tasks import NAItem  # noqa: E402
from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.keys import global_unit, key  # noqa: E402
from rnnscope.model import RecurrentLM  # noqa: E402
from rnnscope.vocab import Vocabulary  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

_STYLE = {"S": ("#4a90d9", "-"), "P": ("#e0607e", "-"), "SS": ("#4a90d9", "-"),
          "SP": ("#4a90d9", "--"), "PS": ("#e0607e", "--"), "PP": ("#e0607e", "-")}


@dataclass
class DynamicsResult(HtmlRepr):
    """``table``: task, condition, layer, unit, global_unit, component, position, label,
    mean, std, n (one row per word position)."""

    table: pd.DataFrame

    def _html_figure(self):
        """The first unit of the table, in its first task."""
        if self.table.empty:
            return None
        first = self.table.iloc[0]
        return self.plot(int(first["layer"]), int(first["unit"]), first["task"])

    def plot(self, layer: int, unit: int, task: str | None = None) -> plt.Figure:
        """One panel per component; a line per condition with std error bars."""
        import matplotlib.pyplot as plt
        t = self.table[(self.table["layer"] == layer) & (self.table["unit"] == unit)]
        if task is not None:
            t = t[t["task"] == task]
        if t.empty:
            raise RnnscopeError(f"no dynamics recorded for unit {layer}:{unit}"
                                + (f" in task {task}" if task else ""))
        task = t["task"].iloc[0]
        t = t[t["task"] == task]
        comps = list(dict.fromkeys(t["component"]))
        cols = min(3, len(comps))
        rows = -(-len(comps) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
        for ax in axes.ravel()[len(comps):]:
            ax.axis("off")
        for ax, comp in zip(axes.ravel(), comps):
            tc = t[t["component"] == comp]
            for cond, g in tc.groupby("condition", sort=False):
                color, ls = _STYLE.get(cond, (None, "-"))
                ax.errorbar(g["position"], g["mean"], yerr=g["std"], color=color, ls=ls,
                            capsize=2, label=cond)
            labels = tc.drop_duplicates("position").sort_values("position")
            ax.set_xticks(labels["position"], labels["label"], rotation=60, fontsize=7)
            ax.set_title(comp)
            ax.ticklabel_format(axis="y", useOffset=False)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"{task}: unit {layer}:{unit} (global {t['global_unit'].iloc[0]})")
        fig.tight_layout()
        return fig


def unit_dynamics(model: RecurrentLM, vocab: Vocabulary, items: Sequence[NAItem],
                  units: Sequence[tuple[int, int]],
                  components: Sequence[str] = ("i", "f", "o", "g", "c", "h"),
                  include_verb: bool = True) -> DynamicsResult:
    """Mean and std of each component of ``units`` per task, condition and word position."""
    if not items:
        raise RnnscopeError("no items given")
    bad = [c for c in components if c not in model.components]
    if bad:
        raise RnnscopeError(f"{model.cell} has no component {bad[0]!r}")
    sentences = [list(it.prefix) + ([it.correct] if include_verb else []) for it in items]
    keys = sorted({key(n, c) for n, _ in units for c in components})
    states = sentence_states(model, vocab, sentences, keys)
    frames = []
    conds = pd.DataFrame({"task": [it.task for it in items],
                          "condition": [it.condition for it in items],
                          "length": [len(s) for s in sentences]})
    for (task, cond, length), g in conds.groupby(["task", "condition", "length"], sort=False):
        rows = g.index.to_numpy()
        first = items[rows[0]]
        labels = list(first.labels) if len(first.labels) == len(first.prefix) else \
            [f"w{j}" for j in range(len(first.prefix))]
        labels = labels + (["verb"] if include_verb else [])
        for n, u in units:
            for comp in components:
                arr = np.stack([states[key(n, comp)][i][:, u] for i in rows])  # [items, T]
                frames.append(pd.DataFrame({
                    "task": task, "condition": cond, "layer": n, "unit": u,
                    "global_unit": global_unit(n, u, model.config.widths(comp)), "component": comp,
                    "position": np.arange(length), "label": labels, "mean": arr.mean(0),
                    "std": arr.std(0), "n": len(rows)}))
    return DynamicsResult(pd.concat(frames, ignore_index=True))


@dataclass
class EfferentResult(HtmlRepr):
    """``table``: layer, unit, global_unit, verb, number (singular|plural), weight."""

    _html_plot = "plot"

    table: pd.DataFrame

    def plot(self) -> plt.Figure:
        """Per unit: decoder weights to singular (blue) and plural (red) verb forms."""
        import matplotlib.pyplot as plt
        units = list(dict.fromkeys(self.table["global_unit"]))
        fig, ax = plt.subplots(figsize=(max(3, 1.3 * len(units)), 3.2))
        rng = np.random.default_rng(0)
        for x, gu in enumerate(units):
            t = self.table[self.table["global_unit"] == gu]
            for num, dx, color in (("singular", -0.15, "#4a90d9"), ("plural", 0.15, "#e0607e")):
                w = t.loc[t["number"] == num, "weight"]
                ax.scatter(x + dx + rng.uniform(-0.05, 0.05, len(w)), w, s=10, color=color,
                           label=num if x == 0 else None)
        ax.set_xticks(range(len(units)), [str(u) for u in units])
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xlabel("unit (global number)")
        ax.set_ylabel("efferent weight to verb")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def efferent_weights(model: RecurrentLM, vocab: Vocabulary, units: Sequence[tuple[int, int]],
                     verbs: Sequence[tuple[str, str]]) -> EfferentResult:
    """Decoder weights from top-layer ``units`` to each (singular, plural) verb form.

    Verb forms missing from the vocabulary are left out (the table has only known forms).
    """
    top = model.config.num_layers
    low = [f"{n}:{u}" for n, u in units if n != top]
    if low:
        raise RnnscopeError(f"unit {low[0]} is not in the top layer ({top}); only the top "
                            "layer projects to the decoder")
    if not model.linear_output:
        raise RnnscopeError("efferent weights need a linear decoder; this model has an adaptive "
                            "output layer (its verb scores are not one weight per unit)")
    w = model.decoder.weight.detach()
    rows = []
    for sing, plur in verbs:
        for form, num in ((sing, "singular"), (plur, "plural")):
            if form not in vocab.stoi:
                continue
            for n, u in units:
                rows.append({"layer": n, "unit": u,
                             "global_unit": global_unit(n, u, model.config.widths("h")),
                             "verb": form, "number": num, "weight": float(w[vocab.stoi[form], u])})
    if not rows:
        raise RnnscopeError("none of the verb forms is in the vocabulary")
    return EfferentResult(pd.DataFrame(rows))
