"""The LSTM with a projection layer (Sak et al. 2014; the big LMs of Jozefowicz et al. 2016):
PyTorch's ``nn.LSTM(proj_size=P)``.

An LSTM of ``H`` cells whose output is projected down to ``P < H`` units before it is
emitted and fed back, so the recurrent matrix is ``[4H, P]`` instead of ``[4H, H]``::

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of  x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    c_t = f * c_{t-1} + i * g                       # [B, H]
    m_t = o * tanh(c_t)                             # [B, H]: the plain LSTM's h
    h_t = m_t W_hr^T                                # [B, P]: emitted and carried

Components ``h c i f o g m``: ``h`` has ``P`` units (``ModelConfig.width``), the others ``H``;
``m`` is recorded so the unprojected cell output can be probed and ablated like any LSTM's h.
State ``(h [P], c [H])``.
"""
from __future__ import annotations

import torch
from torch import nn

from rnnscope.cells.base import Cell, Clamp, no_clamp
from rnnscope.cells.lstm import LSTM, lstm_tangent


class ProjectedLSTM(LSTM):
    name = "lstm_proj"
    summary = "LSTM with a projection of its output (nn.LSTM proj_size; h narrower than c)"
    components = ("h", "c", "i", "f", "o", "g", "m")
    projects = True

    def build(self, input_size: int, hidden_size: int, proj_size: int = 0) -> nn.Module:
        if not 0 < proj_size < hidden_size:
            raise ValueError(f"lstm_proj needs 0 < proj_size < hidden_size, got {proj_size}, {hidden_size}")
        return nn.LSTM(input_size, hidden_size, proj_size=proj_size, batch_first=True)

    def projection(self, layer: nn.Module) -> torch.Tensor:
        """``W_hr [P, H]``: from the cell output ``m`` to the emitted ``h``."""
        return layer.weight_hr_l0

    def hidden_size(self, layer: nn.Module) -> int:
        return int(self.recurrent_weight(layer).shape[0]) // 4  # W_hh is [4H, P]

    def step(self, layer, gi, state, clamp: Clamp = no_clamp):
        gates = self.gates_and_cell(layer, gi, *state, clamp)
        m = clamp("m", gates["o"] * torch.tanh(gates["c"]))
        h = clamp("h", m @ self.projection(layer).t())
        return (h, gates["c"]), {"h": h, "m": m, **gates}

    def record(self, layer, x, out, hx, wanted):
        """The LSTM's record (gates in one matmul, ``c`` by a scan), plus ``m = o * tanh(c)``."""
        if "m" not in wanted:
            return super().record(layer, x, out, hx, wanted)
        rec = super().record(layer, x, out, hx, sorted({*wanted, "c", "o"} - {"m"}))
        rec["m"] = rec["o"] * torch.tanh(rec["c"])
        return {k: rec[k] for k in wanted}

    def run(self, layer, x, hx, wanted, autograd):
        return Cell.run(self, layer, x, hx, wanted, autograd)  # no in-place time loop

    def tangent_step(self, layer, v, dx, prev):
        dh_prev, dc_prev = prev if prev is not None else (None, None)
        di, df, dg, do = self.pre_tangent(layer, dx, dh_prev).chunk(4, dim=-1)
        dm, dc = lstm_tangent(v, di, df, dg, do, dc_prev)
        return dm @ self.projection(layer).t(), dc
