"""Recurrent connectivity between units (seed Fig. 4).

For each target unit and each of its gates (LSTM ``i f g o``; GRU ``r z n``; RNN ``h``), the
afferent weights are one row of the layer's weight matrix: from every unit's ``h`` of the same
layer (``W_hh``) or of the layer below (``W_ih``). Optionally each presynaptic weight is scaled
by that unit's maximal absolute activity on some sentences (the *effective* input, as in the
paper). A source's weight is reported as a z-score against all afferent weights of the target
gate; ``|z| > 3`` marks an outlier connection.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
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



def max_activity(model: RecurrentLM, vocab: Vocabulary, items: Sequence[NAItem]) -> dict[int, np.ndarray]:
    """Per layer, the largest ``|h|`` of every unit over the words of ``items``."""
    keys = [key(n, "h") for n in range(1, model.config.num_layers + 1)]
    states = sentence_states(model, vocab, [list(it.prefix) + [it.correct] for it in items], keys)
    return {n: np.max(np.abs(np.concatenate(states[key(n, "h")])), axis=0)
            for n in range(1, model.config.num_layers + 1)}


@dataclass
class ConnectivityResult(HtmlRepr):
    """``table``: source/target layer, unit and global number, gate, weight, z, outlier."""

    _html_plot = "plot"

    table: pd.DataFrame
    afferent: dict  # (target layer, target unit, gate, source layer) -> all afferent weights

    def plot(self, gates: Sequence[str] | None = None) -> plt.Figure:
        """Histogram of afferent weights per target and gate; sources marked and labelled."""
        import matplotlib.pyplot as plt
        t = self.table
        gates = list(gates) if gates else list(dict.fromkeys(t["gate"]))
        targets = list(dict.fromkeys(zip(t["target_layer"], t["target_unit"], t["target_global"])))
        fig, axes = plt.subplots(len(targets), len(gates), figsize=(3 * len(gates), 2.4 * len(targets)),
                                 squeeze=False)
        for r, (tl, tu, tg) in enumerate(targets):
            for c, gate in enumerate(gates):
                ax = axes[r][c]
                rows = t[(t["target_layer"] == tl) & (t["target_unit"] == tu) & (t["gate"] == gate)]
                for sl in rows["source_layer"].unique():
                    ax.hist(self.afferent[(tl, tu, gate, sl)], bins=40, color="#ccc")
                for row in rows.itertuples():
                    ax.axvline(row.weight, color="#d9534f" if row.outlier else "#333", lw=1)
                    ax.annotate(str(row.source_global), (row.weight, ax.get_ylim()[1] * 0.8),
                                fontsize=7, rotation=90)
                ax.set_title(f"{tg} {gate}", fontsize=8)
        fig.tight_layout()
        return fig


def connectivity(model: RecurrentLM, sources: Sequence[tuple[int, int]],
                 targets: Sequence[tuple[int, int]],
                 scale: Mapping[int, np.ndarray] | None = None,
                 gates: Sequence[str] | None = None, outlier_z: float = 3.0) -> ConnectivityResult:
    """Weights from each source's ``h`` to each target's gates, z-scored per target gate.

    Sources must sit in the target's layer (recurrent) or the layer just below (input).
    ``scale``: per layer, a factor per presynaptic unit (e.g. :func:`max_activity`).
    """
    family = model.family
    cell_gates = family.gates  # row blocks of the weight matrices, in the layout's order
    gates = list(gates) if gates else list(cell_gates)
    bad = [g for g in gates if g not in cell_gates]
    if bad:
        raise RnnscopeError(f"{model.cell} has no gate {bad[0]!r}; gates are {', '.join(cell_gates)}")
    sizes = model.config.sizes
    rows, afferent = [], {}
    for tl, tu in targets:
        layer = model.layers[tl - 1]
        for sl, su in sources:
            if sl == tl:
                matrix = family.recurrent_weight(layer)
            elif sl == tl - 1:
                matrix = family.input_weight(layer)
            else:
                raise RnnscopeError(f"unit {sl}:{su} does not project to layer {tl} "
                                    "(sources must be in the target's layer or the one below)")
            for gate in gates:
                g = cell_gates.index(gate)
                H = sizes[tl - 1]  # rows of the target layer's matrices: gate blocks of H
                w = matrix[g * H + tu].detach().cpu().double().numpy().copy()
                if scale is not None:
                    if sl not in scale:
                        raise RnnscopeError(f"scale has no entry for layer {sl}")
                    w = w * np.asarray(scale[sl], dtype=np.float64)
                afferent[(tl, tu, gate, sl)] = w
                z = (w[su] - w.mean()) / w.std() if w.std() > 0 else 0.0
                rows.append({"source_layer": sl, "source_unit": su,
                             "source_global": global_unit(sl, su, model.config.widths("h")),
                             "target_layer": tl,
                             "target_unit": tu, "target_global": global_unit(tl, tu, sizes),
                             "gate": gate, "weight": float(w[su]), "z": float(z),
                             "outlier": bool(abs(z) > outlier_z)})
    return ConnectivityResult(pd.DataFrame(rows), afferent)
