"""The peephole LSTM of seed 000 (Gers & Schmidhuber 2000): every gate also sees ``c_{t-1}``.

Seed 000's equations (1)-(5), with diagonal peephole weights ``p_i, p_f, p_o`` (``[3, H]``,
parameter ``weight_peep_l0``) and otherwise PyTorch's LSTM layout (rows ``i, f, g, o``)::

    i = sigmoid(W_xi x_t + W_hi h_{t-1} + p_i * c_{t-1} + b_i)
    f = sigmoid(W_xf x_t + W_hf h_{t-1} + p_f * c_{t-1} + b_f)
    g = tanh(W_xg x_t + W_hg h_{t-1} + b_g)
    c_t = f * c_{t-1} + i * g
    o = sigmoid(W_xo x_t + W_ho h_{t-1} + p_o * c_{t-1} + b_o)
    h_t = o * tanh(c_t)

PyTorch has no fused kernel for it, so training runs :class:`PeepholeLSTMLayer`, a Python
time loop over this cell's step (``bench/cells.py`` measures it against ``nn.LSTM``).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from rnnscope.cells.base import Cell, Clamp, no_clamp, run_steps
from rnnscope.cells.lstm import LSTM, lstm_tangent


class PeepholeLSTM(LSTM):
    name = "lstm_peephole"
    summary = "LSTM whose gates see c(t-1) (seed 000; no fused kernel, slower to train)"

    def build(self, input_size: int, hidden_size: int) -> nn.Module:
        return PeepholeLSTMLayer(input_size, hidden_size)

    def peepholes(self, layer: nn.Module) -> torch.Tensor:
        """``[3, H]``: the diagonal weights from ``c_{t-1}`` to the gates ``i, f, o``."""
        return layer.weight_peep_l0

    def step(self, layer, gi, state, clamp: Clamp = no_clamp):
        h, c_prev = state
        H = h.shape[-1]
        p = self.peepholes(layer)
        pre = torch.addmm(gi, h, self.recurrent_weight(layer).t())  # [B, 4H]: i f g o
        i = clamp("i", torch.sigmoid(pre[:, :H] + p[0] * c_prev))
        f = clamp("f", torch.sigmoid(pre[:, H:2 * H] + p[1] * c_prev))
        g = clamp("g", torch.tanh(pre[:, 2 * H:3 * H]))
        o = clamp("o", torch.sigmoid(pre[:, 3 * H:] + p[2] * c_prev))
        c = clamp("c", torch.addcmul(i * g, f, c_prev))
        h = clamp("h", o * torch.tanh(c))
        return (h, c), {"h": h, "c": c, "i": i, "f": f, "g": g, "o": o}

    def record(self, layer, x, out, hx, wanted):
        return Cell.record(self, layer, x, out, hx, wanted)

    def run(self, layer, x, hx, wanted, autograd):
        rec, state = run_steps(self, layer, x, hx, wanted)
        return rec["h"], self.pack(state), {k: rec[k] for k in wanted}

    def tangent_step(self, layer, v, dx, prev):
        dh_prev, dc_prev = prev if prev is not None else (None, None)
        di, df, dg, do = self.pre_tangent(layer, dx, dh_prev).chunk(4, dim=-1)
        if dc_prev is not None:
            p = self.peepholes(layer)
            di, df, do = di + p[0] * dc_prev, df + p[1] * dc_prev, do + p[2] * dc_prev
        return lstm_tangent(v, di, df, dg, do, dc_prev)


class PeepholeLSTMLayer(nn.Module):
    """One peephole-LSTM layer with ``nn.LSTM``'s interface (``batch_first=True``):
    ``forward(x [B,T,E], (h0, c0) each [1,B,H] or None) -> (out [B,T,H], (h_n, c_n))``."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.batch_first, self.bias = True, True
        H = self.hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(4 * H, self.input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(4 * H, H))
        self.bias_ih_l0 = nn.Parameter(torch.empty(4 * H))
        self.bias_hh_l0 = nn.Parameter(torch.empty(4 * H))
        self.weight_peep_l0 = nn.Parameter(torch.empty(3, H))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform(-1/sqrt(H), 1/sqrt(H)) for every parameter, as ``nn.LSTM``."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def forward(self, x: torch.Tensor, hx=None):
        if hx is None:
            hx = _CELL.zero_state(x, x.shape[0], self.hidden_size)
        rec, state = run_steps(_CELL, self, x, hx, ())
        return rec["h"], _CELL.pack(state)


_CELL = PeepholeLSTM()  # the layer's own step function
