"""The contract every recurrent cell family fulfils, and the one stepwise loop built on it.

A :class:`Cell` is stateless: it describes one family (LSTM, GRU, tanh RNN, ...) and acts on
a *layer*, the ``nn.Module`` that holds one layer's parameters (a fused PyTorch module such
as ``nn.LSTM``, or the family's own module when PyTorch has no fused kernel). Everything that
differs between families lives in the family's module; the rest of rnnscope asks the cell:

* what it records (:attr:`Cell.components`, ``"h"`` first) and carries (:attr:`Cell.state`);
* how its weights are laid out (:attr:`Cell.gates`: the row blocks of the input and recurrent
  matrices, :meth:`Cell.input_weight`, :meth:`Cell.recurrent_weight`);
* one step ``(x_t W_ih^T + b, state) -> (state, components)`` (:meth:`Cell.step`), with a
  ``clamp`` callback through which hooks and interventions read or replace each component
  the moment it is computed, so a replacement propagates to everything after it;
* the fast paths: building the fused layer for training (:meth:`Cell.build`) and recording
  every component after a fused pass (:meth:`Cell.record`);
* the forward-mode tangent step used by state gradients (:meth:`Cell.tangent_step`).

Shapes: B = batch, T = time, E = layer input size, H = hidden size, G = number of gate blocks.
Per-layer state is kept in PyTorch's convention (``h`` or ``(h, c)``, each ``[1, B, H]``) so
fused layers take it as it is; :meth:`Cell.unpack` / :meth:`Cell.pack` convert to and from a
plain tuple of ``[B, H]`` tensors in :attr:`Cell.state` order.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import nn

#: ``clamp(name, value) -> value``: the hook through which a step exposes each component.
Clamp = Callable[[str, torch.Tensor], torch.Tensor]


def no_clamp(name: str, value: torch.Tensor) -> torch.Tensor:
    """The identity clamp: run the cell untouched."""
    return value


class Cell:
    """One recurrent cell family. Subclasses set the class attributes and implement
    :meth:`build`, :meth:`step` and :meth:`tangent_step`; the rest has working defaults."""

    #: The name in ``config.json`` and on the command line (``--cell``).
    name: ClassVar[str]
    #: Components recorded at every step, ``"h"`` (the layer's output) first.
    components: ClassVar[tuple[str, ...]]
    #: The recurrent state carried between steps, in PyTorch's order.
    state: ClassVar[tuple[str, ...]] = ("h",)
    #: Row blocks of ``W_ih`` / ``W_hh`` (each ``H`` rows), in the layout's order.
    gates: ClassVar[tuple[str, ...]]
    #: States whose Jacobian w.r.t. the input embedding is defined (state gradients).
    gradient_states: ClassVar[tuple[str, ...]] = ("h",)
    #: True when ``b_hh`` may be added to the input projection (it is outside every gate's
    #: nonlinearity's interaction with ``h``); False for the GRU, whose ``r`` multiplies it.
    fold_hidden_bias: ClassVar[bool] = True
    #: One-line description for help texts and docs.
    summary: ClassVar[str] = ""
    #: True when ``h`` is a projection of the cell's output to ``proj_size`` units (then
    #: ``h`` is narrower than the other components; ``ModelConfig.width`` says how wide).
    projects: ClassVar[bool] = False

    # -- parameters ---------------------------------------------------------------------------
    def build(self, input_size: int, hidden_size: int) -> nn.Module:
        """The layer module for training and scoring (``batch_first=True``)."""
        raise NotImplementedError

    def input_weight(self, layer: nn.Module) -> torch.Tensor:
        """``W_ih [G*H, E]``: row block ``k`` feeds gate ``gates[k]``."""
        return layer.weight_ih_l0

    def recurrent_weight(self, layer: nn.Module) -> torch.Tensor:
        """``W_hh [G*H, H]``: row block ``k`` feeds gate ``gates[k]``."""
        return layer.weight_hh_l0

    def hidden_bias(self, layer: nn.Module) -> torch.Tensor | None:
        return layer.bias_hh_l0 if getattr(layer, "bias", True) else None

    def input_bias(self, layer: nn.Module) -> torch.Tensor | None:
        return layer.bias_ih_l0 if getattr(layer, "bias", True) else None

    def hidden_size(self, layer: nn.Module) -> int:
        return int(self.recurrent_weight(layer).shape[1])

    def project(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The input projection of every step at once: ``x [.., E] -> [.., G*H]``
        (``x W_ih^T + b_ih``, plus ``b_hh`` when :attr:`fold_hidden_bias`)."""
        b_ih, b_hh = self.input_bias(layer), self.hidden_bias(layer)
        bias = b_ih
        if self.fold_hidden_bias and b_hh is not None:
            bias = b_hh if bias is None else bias + b_hh
        return nn.functional.linear(x, self.input_weight(layer), bias)

    # -- state --------------------------------------------------------------------------------
    def zero_state(self, like: torch.Tensor, batch: int, hidden: "int | Sequence[int]"):
        """A zero state for one layer in PyTorch's convention (dtype/device of ``like``);
        ``hidden``: one width for every state, or one per state (``ModelConfig.state_widths``)."""
        widths = (hidden,) * len(self.state) if isinstance(hidden, int) else tuple(hidden)
        return self.pack(tuple(like.new_zeros(batch, w) for w in widths))

    def unpack(self, hx) -> tuple[torch.Tensor, ...]:
        """PyTorch's per-layer state -> a tuple of ``[B, H]`` in :attr:`state` order."""
        parts = hx if isinstance(hx, tuple) else (hx,)
        return tuple(p[0] for p in parts)

    def pack(self, parts: Sequence[torch.Tensor]):
        """Inverse of :meth:`unpack`."""
        out = tuple(p.unsqueeze(0) for p in parts)
        return out if len(self.state) > 1 else out[0]

    # -- stepping -----------------------------------------------------------------------------
    def step(self, layer: nn.Module, gi: torch.Tensor, state: tuple[torch.Tensor, ...],
             clamp: Clamp = no_clamp) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
        """One step for every row: ``gi [B, G*H]`` is this step's :meth:`project`;
        returns the new state and every component ``[B, H]`` (each passed through ``clamp``)."""
        raise NotImplementedError

    def record(self, layer: nn.Module, x: torch.Tensor, out: torch.Tensor, hx,
               wanted: Sequence[str]) -> dict[str, torch.Tensor]:
        """Components ``{name: [B, T, H]}`` after a fused pass gave ``out`` (every step's h).

        Default: rerun the steps (exact; families with gates override this with one matmul
        over all steps)."""
        recorded = run_steps(self, layer, x, hx, wanted)[0]
        recorded["h"] = out
        return {k: recorded[k] for k in wanted}

    def run(self, layer: nn.Module, x: torch.Tensor, hx, wanted: Sequence[str],
            autograd: bool) -> tuple[torch.Tensor, object, dict[str, torch.Tensor]]:
        """``(out [B,T,H], final state, {comp: [B,T,H]})``: the fused pass, then :meth:`record`.
        ``autograd``: a graph or tangents must flow (families may pick a faster path without)."""
        out, hn = layer(x, hx)
        return out, hn, self.record(layer, x, out, hx, wanted)

    # -- state gradients ----------------------------------------------------------------------
    def tangent_values(self, layer: nn.Module, rec: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What :meth:`tangent_step` needs at every step, from the recorded components
        ``rec`` (all of :attr:`components`, each ``[B, L, H]``, run from the zero state)."""
        return dict(rec)

    def tangent_step(self, layer: nn.Module, v: dict[str, torch.Tensor], dx: torch.Tensor | None,
                     prev: tuple | None) -> tuple[torch.Tensor, ...]:
        """Push tangents one step: ``dx [n, E', E]`` (input tangent, None = zero), ``prev`` the
        previous step's state tangents (None = zero), ``v`` this step's values ``[n, 1, H]``.
        Returns the new state tangents in :attr:`state` order, each ``[n, E', H]``."""
        raise NotImplementedError

    def pre_tangent(self, layer: nn.Module, dx, dh_prev) -> torch.Tensor | None:
        """Tangent of the gate pre-activations ``W_ih dx + W_hh dh_prev`` (None if both zero)."""
        out = None
        if dx is not None:
            out = dx @ self.input_weight(layer).T
        if dh_prev is not None:
            r = dh_prev @ self.recurrent_weight(layer).T
            out = r if out is None else out + r
        return out


def previous(values: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """``[B, T, H]`` values shifted right by one step, with ``first [B, H]`` at step 0."""
    return torch.cat([first[:, None], values[:, :-1]], dim=1)


def run_steps(cell: Cell, layer: nn.Module, x: torch.Tensor, hx, record: Sequence[str],
              clamp_at: Callable[[int], Clamp] | None = None, gi: torch.Tensor | None = None,
              ) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, ...]]:
    """The one stepwise loop: ``({comp: [B, T, H]} for ``record`` + ``"h"``, final state)``.

    ``clamp_at(t)`` gives step ``t``'s clamp (hooks, interventions); ``gi`` is the input
    projection when the caller already has it (an ablation sweep shares it across rows).
    """
    state = cell.unpack(hx)
    if gi is None:
        gi = cell.project(layer, x)
    keep: dict[str, list] = {n: [] for n in cell.components if n in record or n == "h"}
    for t in range(gi.shape[1]):
        state, values = cell.step(layer, gi[:, t], state, no_clamp if clamp_at is None else clamp_at(t))
        for n, store in keep.items():
            store.append(values[n])
    return {n: torch.stack(v, dim=1) for n, v in keep.items()}, state
