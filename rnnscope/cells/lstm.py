"""The LSTM (Hochreiter & Schmidhuber 1997) in PyTorch's layout: ``nn.LSTM``.

Components ``h c i f o g``; state ``(h, c)``; weight rows in PyTorch's gate order
``i, f, g, o`` (input, forget, candidate, output)::

    i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of  x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rnnscope.cells.base import Cell, Clamp, no_clamp, previous


class LSTM(Cell):
    name = "lstm"
    summary = "LSTM (PyTorch nn.LSTM; gates i f g o)"
    components = ("h", "c", "i", "f", "o", "g")
    state = ("h", "c")
    gates = ("i", "f", "g", "o")
    gradient_states = ("c", "h")

    def build(self, input_size: int, hidden_size: int) -> nn.Module:
        return nn.LSTM(input_size, hidden_size, batch_first=True)

    def step(self, layer, gi, state, clamp: Clamp = no_clamp):
        gates = self.gates_and_cell(layer, gi, *state, clamp)
        h = clamp("h", gates["o"] * torch.tanh(gates["c"]))
        return (h, gates["c"]), {"h": h, **gates}

    def gates_and_cell(self, layer, gi, h, c, clamp: Clamp = no_clamp) -> dict[str, torch.Tensor]:
        """One step's gates ``i f g o`` and new cell ``c`` (each through ``clamp``), from the
        input projection ``gi``, the previous ``h`` and ``c`` (``c`` sets the width ``H``)."""
        H = c.shape[-1]
        pre = torch.addmm(gi, h, self.recurrent_weight(layer).t())  # [B, 4H]
        sig = torch.sigmoid(pre[:, :2 * H])
        i = clamp("i", sig[:, :H])
        f = clamp("f", sig[:, H:])
        g = clamp("g", torch.tanh(pre[:, 2 * H:3 * H]))
        o = clamp("o", torch.sigmoid(pre[:, 3 * H:]))
        c = clamp("c", torch.addcmul(i * g, f, c))
        return {"c": c, "i": i, "f": f, "g": g, "o": o}

    def record(self, layer, x, out, hx, wanted):
        """All gates from the recorded hidden states in one matmul per layer; ``c`` is then an
        element-wise scan (works under autograd and forward-mode tangents)."""
        h0, c0 = self.unpack(hx)
        pre = self.project(layer, x).add_(
            nn.functional.linear(previous(out, h0), self.recurrent_weight(layer)))
        i, f, g, o = pre.chunk(4, dim=-1)
        i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
        rec = {"h": out, "i": i, "f": f, "o": o, "g": g}
        if "c" in wanted:
            rec["c"] = cell_scan(i, f, g, c0)
        return {k: rec[k] for k in wanted}

    def run(self, layer, x, hx, wanted, autograd):
        if autograd or set(wanted) <= {"h"}:
            return super().run(layer, x, hx, wanted, autograd)
        return self.time_loop(layer, x, hx, wanted)

    def time_loop(self, layer: nn.Module, x: torch.Tensor, hx, wanted: Sequence[str]):
        """Inference-only layer recording every gate: ``(out [B,T,H], (h_n, c_n), {comp: ...})``.

        The input projection of all steps is one matmul up front; inside the time loop only the
        recurrent matmul and the element-wise gate updates run, writing straight into contiguous
        per-component outputs: the fused layer's arithmetic (within a few % of the bare
        ``nn.LSTM`` forward, see ``bench/extract.py``, where a fused pass plus recomputing the
        gates costs ~2x). In-place, so never under autograd.
        """
        B, T, _ = x.shape
        H = self.hidden_size(layer)
        gi = self.project(layer, x)
        w_hh = self.recurrent_weight(layer).t()
        full = {k: x.new_empty(B, T, H) for k in ("h", "c", *wanted)}
        scratch = {k: x.new_empty(B, H) for k in ("i", "f", "g", "o") if k not in full}
        at = lambda k, t: full[k][:, t] if k in full else scratch[k]  # noqa: E731
        pre = x.new_empty(B, 4 * H)
        h, c = self.unpack(hx)
        for t in range(T):
            torch.addmm(gi[:, t], h, w_hh, out=pre)
            i = torch.sigmoid(pre[:, :H], out=at("i", t))
            f = torch.sigmoid(pre[:, H:2 * H], out=at("f", t))
            g = torch.tanh(pre[:, 2 * H:3 * H], out=at("g", t))
            o = torch.sigmoid(pre[:, 3 * H:], out=at("o", t))
            c = torch.mul(i, g, out=full["c"][:, t]).addcmul_(f, c)
            h = torch.tanh(c, out=full["h"][:, t]).mul_(o)
        final = self.pack((full["h"][:, -1].clone(), full["c"][:, -1].clone()))
        return full["h"], final, {k: full[k] for k in wanted}

    def tangent_values(self, layer, rec):
        v = dict(rec)
        v["c_prev"] = previous(rec["c"], torch.zeros_like(rec["c"][:, 0]))
        v["tanh_c"] = torch.tanh(rec["c"])
        return v

    def tangent_step(self, layer, v, dx, prev):
        dh_prev, dc_prev = prev if prev is not None else (None, None)
        di, df, dg, do = self.pre_tangent(layer, dx, dh_prev).chunk(4, dim=-1)
        return lstm_tangent(v, di, df, dg, do, dc_prev)


def lstm_tangent(v, di, df, dg, do, dc_prev):
    """Tangents ``(dh, dc)`` of an LSTM step from the gate pre-activation tangents."""
    i, f, g, o = v["i"], v["f"], v["g"], v["o"]
    dc = di * (i * (1 - i) * g) + df * (f * (1 - f) * v["c_prev"]) + dg * (i * (1 - g * g))
    if dc_prev is not None:
        dc = dc + f * dc_prev
    tc = v["tanh_c"]
    dh = do * (o * (1 - o) * tc) + dc * (o * (1 - tc * tc))
    return dh, dc


def cell_scan(i: torch.Tensor, f: torch.Tensor, g: torch.Tensor, c0: torch.Tensor) -> torch.Tensor:
    """``c_t = f_t * c_{t-1} + i_t * g_t`` over time; inputs ``[B, T, H]``, ``c0 [B, H]``."""
    ig = i * g
    c = torch.empty_like(ig)
    prev = c0
    for t in range(ig.shape[1]):
        prev = torch.addcmul(ig[:, t], f[:, t], prev)
        c[:, t] = prev
    return c
