"""The GRU (Cho et al. 2014) in PyTorch's layout: ``nn.GRU``.

Components ``h r z n``; state ``h``; weight rows in PyTorch's order ``r, z, n``::

    r, z = sigmoid(x_t W_i{r,z}^T + b_i{r,z} + h_{t-1} W_h{r,z}^T + b_h{r,z})
    n    = tanh(x_t W_in^T + b_in + r * (h_{t-1} W_hn^T + b_hn))
    h_t  = (1 - z) * n + z * h_{t-1}

``b_hn`` sits inside ``r * (...)``, so the hidden bias is not folded into the input projection.
"""
from __future__ import annotations

import torch
from torch import nn

from rnnscope.cells.base import Cell, Clamp, no_clamp, previous


class GRU(Cell):
    name = "gru"
    summary = "GRU (PyTorch nn.GRU; gates r z n)"
    components = ("h", "r", "z", "n")
    gates = ("r", "z", "n")
    fold_hidden_bias = False

    def build(self, input_size: int, hidden_size: int) -> nn.Module:
        return nn.GRU(input_size, hidden_size, batch_first=True)

    def step(self, layer, gi, state, clamp: Clamp = no_clamp):
        (h,) = state
        H = h.shape[-1]
        gh = nn.functional.linear(h, self.recurrent_weight(layer), self.hidden_bias(layer))
        rz = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
        r = clamp("r", rz[:, :H])
        z = clamp("z", rz[:, H:])
        n = clamp("n", torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:]))
        h = clamp("h", torch.lerp(n, h, z))  # (1 - z) * n + z * h
        return (h,), {"h": h, "r": r, "z": z, "n": n}

    def record(self, layer, x, out, hx, wanted):
        (h0,) = self.unpack(hx)
        gi = self.project(layer, x)
        gh = nn.functional.linear(previous(out, h0), self.recurrent_weight(layer), self.hidden_bias(layer))
        i_r, i_z, i_n = gi.chunk(3, dim=-1)
        h_r, h_z, h_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(i_r + h_r)
        rec = {"h": out, "r": r, "z": torch.sigmoid(i_z + h_z), "n": torch.tanh(i_n + r * h_n)}
        return {k: rec[k] for k in wanted}

    def tangent_values(self, layer, rec):
        v = dict(rec)
        H = self.hidden_size(layer)
        v["h_prev"] = previous(rec["h"], torch.zeros_like(rec["h"][:, 0]))
        b = self.hidden_bias(layer)
        v["hn"] = nn.functional.linear(v["h_prev"], self.recurrent_weight(layer)[2 * H:],
                                       None if b is None else b[2 * H:])
        return v

    def tangent_step(self, layer, v, dx, prev):
        dh_prev = prev[0] if prev is not None else None
        gi = dx @ self.input_weight(layer).T if dx is not None else None
        gh = dh_prev @ self.recurrent_weight(layer).T if dh_prev is not None else None
        gi_r, gi_z, gi_n = gi.chunk(3, -1) if gi is not None else (0.0,) * 3
        gh_r, gh_z, gh_n = gh.chunk(3, -1) if gh is not None else (0.0,) * 3
        r, z, n = v["r"], v["z"], v["n"]
        dr = (gi_r + gh_r) * (r * (1 - r))
        dz = (gi_z + gh_z) * (z * (1 - z))
        dn = (gi_n + dr * v["hn"] + r * gh_n) * (1 - n * n)
        dh = dz * (v["h_prev"] - n) + (1 - z) * dn
        if dh_prev is not None:
            dh = dh + z * dh_prev
        return (dh,)
