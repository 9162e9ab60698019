"""Interchange interventions (activation patching) on number-agreement items.

Take the values of some units from a *source* run and write them into a *base* run at every
step, while the recurrence runs: if a unit carries the subject's number, patching it from "the
boys" into "the boy ... " makes the model prefer the plural verb. Built on the stepwise hook
path (:func:`rnnscope.interventions.run_stepwise`): the source run records the components, the
base run's hooks replace the chosen units row by row.

:func:`interchange` patches any units between any two batches of sentences of equal length.
:func:`patch_sweep` pairs every generated NA-task item with its number-flipped twin (same
frame, the subject's number swapped: S <-> P, SS <-> PS, SP <-> PP) and, one unit at a time
(batched: many units and items per pass), counts how often patching that unit alone flips the
model's decision between the two verb forms. :func:`patch_pairs` runs the same sweep on any
given (base, source) pairs, such as the number twins found in minimal-pair files
(:func:`rnnscope.agreement.pair_sweeps.number_twins`).

Shapes: R = rows (pairs x units), T = time (``<eos>`` + prefix), H = hidden size.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from rnnscope.agreement.ablation import check_one_width, mode_sizes, units_to_sweep
from rnnscope.agreement.batched import encode_items
from rnnscope.agreement.tasks import NAItem
from rnnscope.device import model_device
from rnnscope.errors import RnnscopeError
from rnnscope.interventions import run_stepwise
from rnnscope.keys import global_unit, key
from rnnscope.model import RecurrentLM
from rnnscope.vocab import Vocabulary
from rnnscope.notebook import HtmlRepr

MODES = {"h": ("h",), "c": ("c",), "both": ("h", "c")}


@torch.no_grad()
def interchange(model: RecurrentLM, base: torch.Tensor, source: torch.Tensor,
                masks: Mapping[str, torch.Tensor], steps: Sequence[int] | None = None,
                components: Sequence[str] | None = ()) -> tuple[torch.Tensor, dict]:
    """Run ``base [B, T]`` with the units in ``masks`` taken from the run of ``source [B, T]``.

    ``masks``: ``{"layer2.c": bool [B, H] or [H]}``, the units of each component to patch per
    row. ``steps``: the time steps patched (default: all). Returns the base run's ``(logits,
    states)`` as :func:`run_stepwise` does (``components`` recorded).
    """
    if base.shape != source.shape:
        raise RnnscopeError(f"base {tuple(base.shape)} and source {tuple(source.shape)} must have "
                            "the same shape (one source sentence of the same length per base row)")
    keys = list(masks)
    comps = sorted({k.split(".")[1] for k in keys})
    _, src = run_stepwise(model, source, components=comps, compute_logits=False)
    when = None if steps is None else set(int(s) for s in steps)
    hooks = {}
    for k in keys:
        if k not in src:
            raise RnnscopeError(f"no component {k!r} to patch")
        mask = torch.as_tensor(masks[k], dtype=torch.bool, device=src[k].device)
        mask = mask.expand(base.shape[0], -1) if mask.dim() == 1 else mask
        hooks[k] = _patch_hook(mask, src[k], when)
    return run_stepwise(model, base, hooks=hooks, components=components)


def _patch_hook(mask: torch.Tensor, values: torch.Tensor, when: set[int] | None):
    def hook(value: torch.Tensor, t: int) -> torch.Tensor | None:
        if when is not None and t not in when:
            return None
        return torch.where(mask, values[:, t], value)
    return hook


# -- NA-task pairs ---------------------------------------------------------------------------
def _flip_subject(condition: str) -> str:
    return ("P" if condition[0] == "S" else "S") + condition[1:]


def interchange_pairs(items: Sequence[NAItem]) -> list[tuple[NAItem, NAItem]]:
    """``(base, source)`` pairs: each item with its twin whose subject number is flipped.

    Twins share task and item id (the generator's frame) and have prefixes of equal length.
    Items without a twin (file items, unpaired conditions) are left out.
    """
    index = {(it.task, it.item_id, it.condition): it for it in items}
    pairs = []
    for it in items:
        if it.subject_number is None:
            continue
        twin = index.get((it.task, it.item_id, _flip_subject(it.condition)))
        if twin is not None and len(twin.prefix) == len(it.prefix):
            pairs.append((it, twin))
    return pairs


@dataclass
class PatchResult(HtmlRepr):
    """Per-unit flip rates of an interchange sweep.

    ``table``: one row per (layer, unit, task, condition of the base) with ``n`` pairs,
    ``flip_rate`` (share of pairs whose decision between the two verb forms changes when
    that unit alone is patched from the twin) and ``base_accuracy``. ``margins``: the
    patched log-probability margins ``[units, pairs]``; ``base_margins`` ``[pairs]``.
    """

    _html_table = "top"

    table: pd.DataFrame
    units: pd.DataFrame
    margins: np.ndarray
    base_margins: np.ndarray
    pairs: pd.DataFrame
    mode: str

    def _html_caption(self) -> str:
        return f"units by flip rate, patching {self.mode} from the number-flipped twin"

    def top(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` units with the highest flip rate over all pairs."""
        overall = (self.table.assign(flips=lambda d: d["flip_rate"] * d["n"])
                   .groupby(["layer", "unit", "global_unit"], as_index=False)[["flips", "n"]].sum())
        overall["flip_rate"] = overall["flips"] / overall["n"]
        return (overall.drop(columns="flips").sort_values("flip_rate", ascending=False)
                .head(n).reset_index(drop=True))


def patch_sweep(model: RecurrentLM, vocab: Vocabulary, items: Sequence[NAItem], mode: str = "both",
                layers: Sequence[int] | None = None, units: Sequence[int] | None = None,
                max_rows: int = 2048) -> PatchResult:
    """Patch each unit alone from the number-flipped twin into every base item (batched)."""
    _check_mode(model, mode)
    encoded = encode_items(list(items), vocab)
    pairs = interchange_pairs(encoded.items)
    if not pairs:
        raise RnnscopeError("no item has a number-flipped twin to patch from (patching needs the "
                            "generated NA tasks, e.g. --tasks Simple,NounPP)")
    return patch_pairs(model, vocab, pairs, mode=mode, layers=layers, units=units,
                       max_rows=max_rows)


def _check_mode(model: RecurrentLM, mode: str) -> tuple[str, ...]:
    if mode not in MODES:
        raise RnnscopeError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    comps = MODES[mode]
    bad = [c for c in comps if c not in model.components]
    if bad:
        raise RnnscopeError(f"a {model.cell} has no component {bad[0]!r}; use --mode h")
    return check_one_width(model, comps, mode)


@torch.no_grad()
def patch_pairs(model: RecurrentLM, vocab: Vocabulary, pairs: Sequence[tuple[NAItem, NAItem]],
                mode: str = "both", layers: Sequence[int] | None = None,
                units: Sequence[int] | None = None, max_rows: int = 2048) -> PatchResult:
    """Patch each unit alone from ``source`` into ``base`` for every ``(base, source)`` pair.

    The decision is the base's (its correct vs wrong form); base and source prefixes must have
    the same length. Pairs whose items cannot be encoded (a form missing from the vocabulary)
    are left out. :func:`patch_sweep` builds the pairs of the generated NA tasks.
    """
    comps = _check_mode(model, mode)
    cfg = model.config
    sweep = units_to_sweep(model, layers, units, comps[0])
    if not sweep:
        raise RnnscopeError("no units to patch")
    layers = list(dict.fromkeys(n for n, _ in sweep))
    if not pairs:
        raise RnnscopeError("no (base, source) pairs to patch")
    uniq = list({id(it): it for pair in pairs for it in pair}.values())
    encoded = encode_items(uniq, vocab)
    ids = {id(it): e for it, e in zip(encoded.items, encoded.ids)}
    pairs = [(b, s) for b, s in pairs if id(b) in ids and id(s) in ids]
    if not pairs:
        raise RnnscopeError("no pair can be scored: " + "; ".join(encoded.skipped["reason"].head(3)))
    bad = [(b, s) for b, s in pairs if len(b.prefix) != len(s.prefix)]
    if bad:
        raise RnnscopeError(f"base {' '.join(bad[0][0].prefix)!r} and source "
                            f"{' '.join(bad[0][1].prefix)!r} have prefixes of different lengths")
    base_tok = [ids[id(b)][0] for b, _ in pairs]
    src_tok = [ids[id(s)][0] for _, s in pairs]
    dev = dict(device=model_device(model))
    good = torch.tensor([ids[id(b)][1] for b, _ in pairs], **dev)
    wrong = torch.tensor([ids[id(b)][2] for b, _ in pairs], **dev)
    margins = np.empty((len(sweep), len(pairs)), dtype=np.float32)
    base_margin = np.empty(len(pairs), dtype=np.float32)
    top = f"layer{cfg.num_layers}.h"
    by_length: dict[int, list[int]] = {}
    for j, t in enumerate(base_tok):
        by_length.setdefault(len(t), []).append(j)
    model = model.eval()
    for group in by_length.values():
        b_all = torch.tensor([base_tok[j] for j in group], **dev)
        s_all = torch.tensor([src_tok[j] for j in group], **dev)
        g_all, w_all = good[group], wrong[group]
        _, clean = run_stepwise(model, b_all, components=["h"], compute_logits=False)
        base_margin[group] = model.pair_margin(clean[top][:, -1], g_all, w_all).cpu().numpy()
        per_pass = max(1, max_rows // max(1, len(group)))
        for n in layers:
            layer_units = [k for k, (ln, _) in enumerate(sweep) if ln == n]
            _, src = run_stepwise(model, s_all, components=list(comps), compute_logits=False)
            for a in range(0, len(layer_units), per_pass):
                block = layer_units[a:a + per_pass]
                u = torch.tensor([sweep[k][1] for k in block], **dev)
                rows = len(block) * len(group)   # unit-major: row = unit * pairs + pair
                mask = torch.zeros(rows, cfg.width(n, comps[0]), dtype=torch.bool, **dev)
                mask[torch.arange(rows, **dev), u.repeat_interleave(len(group))] = True
                hooks = {key(n, c): _patch_hook(mask, src[key(n, c)].repeat(len(block), 1, 1), None)
                         for c in comps}
                _, out = run_stepwise(model, b_all.repeat(len(block), 1), hooks=hooks,
                                      components=["h"], compute_logits=False)
                m = model.pair_margin(out[top][:, -1], g_all.repeat(len(block)),
                                      w_all.repeat(len(block)))
                margins[np.array(block)[:, None], np.array(group)[None, :]] = \
                    m.view(len(block), len(group)).cpu().numpy()
    return _result(pairs, sweep, margins, base_margin, mode_sizes(model, comps), mode)


def _result(pairs, sweep, margins, base_margin, hidden, mode) -> PatchResult:
    pair_table = pd.DataFrame([{"task": b.task, "condition": b.condition, "item_id": b.item_id,
                                "base": " ".join(b.prefix), "source": " ".join(s.prefix),
                                "correct_form": b.correct, "wrong_form": b.wrong}
                               for b, s in pairs])
    pair_table["base_margin"] = base_margin
    flips = (margins > 0) != (base_margin > 0)[None, :]
    unit_table = pd.DataFrame([{"layer": n, "unit": u, "global_unit": global_unit(n, u, hidden)}
                               for n, u in sweep])
    rows = []
    groups = pair_table.groupby(["task", "condition"], sort=False).indices
    for k, (n, u) in enumerate(sweep):
        for (task, cond), idx in groups.items():
            rows.append({"layer": n, "unit": u, "global_unit": global_unit(n, u, hidden),
                         "task": task, "condition": cond, "n": len(idx),
                         "flip_rate": float(flips[k, idx].mean()),
                         "base_accuracy": float((base_margin[idx] > 0).mean())})
    return PatchResult(pd.DataFrame(rows), unit_table, margins, base_margin, pair_table, mode)
