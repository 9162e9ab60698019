"""The Elman RNN with tanh (Elman 1990) in PyTorch's layout: ``nn.RNN``.

Component and state ``h``; one row block::

    h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)

Other nonlinearities subclass :class:`TanhRNN` and override :meth:`activation` and
:meth:`derivative` (see :mod:`rnnscope.cells.relu`).
"""
from __future__ import annotations

import torch
from torch import nn

from rnnscope.cells.base import Cell, Clamp, no_clamp


class TanhRNN(Cell):
    name = "rnn"
    summary = "Elman RNN with tanh (PyTorch nn.RNN)"
    components = ("h",)
    gates = ("h",)
    #: ``nn.RNN``'s ``nonlinearity`` argument.
    nonlinearity = "tanh"

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.tanh(pre)

    def derivative(self, h: torch.Tensor) -> torch.Tensor:
        """``d activation / d pre`` written in terms of the output ``h``."""
        return 1 - h * h

    def build(self, input_size: int, hidden_size: int) -> nn.Module:
        return nn.RNN(input_size, hidden_size, nonlinearity=self.nonlinearity, batch_first=True)

    def step(self, layer, gi, state, clamp: Clamp = no_clamp):
        h = clamp("h", self.activation(torch.addmm(gi, state[0], self.recurrent_weight(layer).t())))
        return (h,), {"h": h}

    def record(self, layer, x, out, hx, wanted):
        return {"h": out}

    def tangent_values(self, layer, rec):
        return {**rec, "dact": self.derivative(rec["h"])}

    def tangent_step(self, layer, v, dx, prev):
        return (self.pre_tangent(layer, dx, prev[0] if prev is not None else None) * v["dact"],)
