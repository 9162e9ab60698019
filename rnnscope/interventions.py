"""Causal interventions: run a model with units held at a value, the effect propagating.

An :class:`Intervention` holds some units of one component (``h``, ``c`` or a gate) of one
layer at a value (``"zero"``, ``"mean"`` or given numbers) at every step or at chosen steps.
:func:`run_stepwise` applies a *different* list of interventions to each batch row, so a sweep
over many units is a single pass: put the same sentence in many rows, one ablated unit per row.

Layers are run one after the other (there is no top-down connection), each by the one stepwise
loop :func:`rnnscope.cells.run_steps`: the input projection is one matmul over all steps and
the cell's step runs inside the time loop, exposing each component to the clamps.

>>> rows = [[], [Intervention(layer=1, component="h", units=[3])]]   # row 0 clean, row 1 ablated
>>> # logits, states = run_stepwise(model, tokens.expand(2, -1), rows)

:func:`ablate_outgoing` is the weight-level ablation of the number-unit paper: zero the unit's
column in its recurrent matrix and in whatever reads it next (next layer or decoder).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from rnnscope.cells.base import run_steps
from rnnscope.errors import RnnscopeError
from rnnscope.keys import key, parse_key
from rnnscope.model import RecurrentLM


@dataclass(frozen=True)
class Intervention:
    """Hold ``units`` of ``layer{layer}.{component}`` at ``value`` (at ``steps``, default all).

    ``value``: ``"zero"``, ``"mean"`` (needs ``means`` in :func:`run_stepwise`), a float, or
    one number per unit. ``steps`` are 0-based time indices of the input sequence.
    """

    layer: int
    component: str
    units: Sequence[int]
    value: str | float | Sequence[float] = "zero"
    steps: Sequence[int] | None = None


class _Clamp:
    """Masks for one ``layer.component``: which units of which row, at which steps, to what."""

    def __init__(self, batch: int, time: int, hidden: int, device, dtype):
        self.units = torch.zeros(batch, hidden, dtype=torch.bool, device=device)
        self.values = torch.zeros(batch, hidden, dtype=dtype, device=device)
        self.steps = torch.zeros(time, batch, dtype=torch.bool, device=device)
        self.rows_with_steps: dict[int, tuple | None] = {}

    def add(self, row: int, iv: Intervention, value: torch.Tensor, time: int) -> None:
        steps = None if iv.steps is None else tuple(sorted(set(int(s) for s in iv.steps)))
        if row in self.rows_with_steps and self.rows_with_steps[row] != steps:
            raise RnnscopeError(f"row {row}: interventions on {key(iv.layer, iv.component)} "
                                "must share the same steps")
        self.rows_with_steps[row] = steps
        idx = torch.as_tensor(list(iv.units), dtype=torch.long)
        self.units[row, idx] = True
        self.values[row, idx] = value
        if steps is None:
            self.steps[:, row] = True
        else:
            bad = [s for s in steps if not 0 <= s < time]
            if bad:
                raise RnnscopeError(f"intervention step {bad[0]} outside the sequence (0..{time - 1})")
            self.steps[list(steps), row] = True

    def apply(self, t: int, x: torch.Tensor) -> torch.Tensor:
        mask = self.units & self.steps[t].unsqueeze(1)
        return torch.where(mask, self.values, x)


def _build_clamps(model: RecurrentLM, rows: Sequence[Sequence[Intervention]], time: int,
                  means: dict[str, torch.Tensor] | None) -> dict[str, _Clamp]:
    cfg = model.config
    p = model.encoder.weight
    clamps: dict[str, _Clamp] = {}
    for row, ivs in enumerate(rows):
        for iv in ivs:
            if not 1 <= iv.layer <= cfg.num_layers:
                raise RnnscopeError(f"layer {iv.layer} does not exist (model has {cfg.num_layers})")
            if iv.component not in model.components:
                raise RnnscopeError(f"{cfg.cell} has no component {iv.component!r}")
            units = list(iv.units)
            size = cfg.width(iv.layer, iv.component)
            if not units or min(units) < 0 or max(units) >= size:
                raise RnnscopeError(f"units must be in 0..{size - 1}, got {units[:5]}")
            k = key(iv.layer, iv.component)
            if iv.value == "zero":
                value = torch.zeros(len(units), dtype=p.dtype)
            elif iv.value == "mean":
                if not means or k not in means:
                    raise RnnscopeError(f"value 'mean' needs the mean of {k} (pass means=)")
                value = torch.as_tensor(means[k], dtype=p.dtype)[units]
            elif isinstance(iv.value, (int, float)):
                value = torch.full((len(units),), float(iv.value), dtype=p.dtype)
            else:
                value = torch.as_tensor(list(iv.value), dtype=p.dtype)
                if value.shape != (len(units),):
                    raise RnnscopeError("give one value per unit")
            if k not in clamps:
                clamps[k] = _Clamp(len(rows), time, size, p.device, p.dtype)
            clamps[k].add(row, iv, value.to(p.device), time)
    return clamps


Hook = Callable[[torch.Tensor, int], "torch.Tensor | None"]


class _Hook:
    """A hook point's function behind the clamp interface: ``apply(t, value)``."""

    def __init__(self, name: str, fn: Hook, then: _Clamp | None = None):
        self.name, self.fn, self.then = name, fn, then

    def apply(self, t: int, value: torch.Tensor) -> torch.Tensor:
        if self.then is not None:  # interventions first, then the hook sees their result
            value = self.then.apply(t, value)
        new = self.fn(value, t)
        if new is None:
            return value
        if not isinstance(new, torch.Tensor) or new.shape != value.shape:
            raise RnnscopeError(f"hook {self.name} must return None or a tensor of shape "
                                f"{tuple(value.shape)}, got "
                                f"{tuple(new.shape) if isinstance(new, torch.Tensor) else type(new).__name__}")
        return new


def _check_hooks(model: RecurrentLM, hooks: Mapping[str, Hook]) -> None:
    for name, fn in hooks.items():
        try:
            n, comp = parse_key(name)
        except Exception:
            raise RnnscopeError(f"hook point {name!r} is not a component key like 'layer1.c'") from None
        if not 1 <= n <= model.config.num_layers or comp not in model.components:
            raise RnnscopeError(f"no hook point {name!r}: the model has layers 1..{model.config.num_layers} "
                                f"with components {', '.join(model.components)}")
        if not callable(fn):
            raise RnnscopeError(f"hook {name!r} is not callable")


def run_stepwise(model: RecurrentLM, tokens: torch.Tensor,
                 interventions: Sequence[Sequence[Intervention]] | None = None,
                 state: list | None = None, means: dict[str, torch.Tensor] | None = None,
                 components: Sequence[str] | None = (), logits_for: torch.Tensor | None = None,
                 inputs_embeds: torch.Tensor | None = None,
                 hooks: Mapping[str, Hook] | None = None, compute_logits: bool = True,
                 ) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """Run ``model`` step by step with per-row interventions and hook points.

    ``tokens [B, T]``; ``interventions[b]`` is the list applied to row ``b`` (``None`` = none).
    ``hooks``: ``{"layer2.c": fn, ...}``; ``fn(value [B, H], step)`` sees that component at each
    step while the recurrence runs (after any intervention) and may return a replacement
    (same shape) or ``None`` to leave it; a replacement propagates to everything after it.
    ``components`` names the components to record (``None`` = all, default none).
    ``logits_for``: vocabulary ids ``[K]``; only those logits are computed (``[B, T, K]``),
    enough to compare two verb forms. ``compute_logits=False`` skips the output layer (logits
    ``None``) when only states are wanted: a full-vocabulary output of thousands of patched rows
    is gigabytes. Returns ``(logits, {"layer1.h": [B, T, H], ...})``.
    """
    x = model._inputs(tokens, inputs_embeds)
    batch, time = x.shape[:2]
    rows = interventions if interventions is not None else [[]] * batch
    if len(rows) != batch:
        raise RnnscopeError(f"{len(rows)} intervention rows for a batch of {batch}")
    record = list(model.components) if components is None else list(components)
    clamps: dict = _build_clamps(model, rows, time, means)
    if hooks:
        _check_hooks(model, hooks)
        clamps = {**clamps, **{k: _Hook(k, fn, clamps.get(k)) for k, fn in hooks.items()}}
    state = state if state is not None else model.init_state(batch)
    states: dict[str, torch.Tensor] = {}
    family = model.family
    for n, (layer, hx) in enumerate(zip(model.layers, state)):
        out, _ = run_steps(family, layer, x, hx, record, clamp_at=layer_clamps(clamps, n + 1))
        for comp, value in out.items():
            if comp in record:
                states[key(n + 1, comp)] = value
        x = out["h"]
    if not compute_logits:
        return None, states
    logits = model.output(x) if logits_for is None else model.token_scores(x, logits_for)
    return logits, states


def layer_clamps(clamps: Mapping[str, "_Clamp | _Hook"], layer: int):
    """``t -> clamp(name, value)`` for 1-based ``layer``: what :func:`rnnscope.cells.run_steps`
    takes (``None`` when nothing touches the layer, so the loop runs untouched)."""
    mine = {parse_key(k)[1]: c for k, c in clamps.items() if parse_key(k)[0] == layer}
    if not mine:
        return None

    def at(t: int):
        def clamp(name: str, value: torch.Tensor) -> torch.Tensor:
            c = mine.get(name)
            return value if c is None else c.apply(t, value)
        return clamp
    return at


def ablate_outgoing(model: RecurrentLM, layer: int, units: Sequence[int]) -> RecurrentLM:
    """A copy of ``model`` with the outgoing weights of ``units`` of 1-based ``layer`` zeroed.

    Zeroes the units' columns in the layer's recurrent matrix and in the next layer's input
    matrix (or the decoder for the top layer), as the number-unit paper's ablation does.
    Equivalent to holding the units' ``h`` at zero at every step (tested).
    """
    if not 1 <= layer <= model.config.num_layers:
        raise RnnscopeError(f"layer {layer} does not exist (model has {model.config.num_layers})")
    if model.config.tie_weights and layer == model.config.num_layers:
        raise RnnscopeError("outgoing-weight ablation of the top layer is undefined with tied weights")
    ablated = copy.deepcopy(model)
    idx = torch.as_tensor(list(units), dtype=torch.long)
    family = model.family
    with torch.no_grad():
        family.recurrent_weight(ablated.layers[layer - 1])[:, idx] = 0.0
        if layer < model.config.num_layers:
            family.input_weight(ablated.layers[layer])[:, idx] = 0.0
        else:
            for weight in ablated.output_input_weights():
                weight[:, idx] = 0.0
    return ablated
