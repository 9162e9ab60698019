"""Score many agreement prefixes under many ablations in a few batched passes.

The research code runs one forward pass per (ablated unit, sentence) with the full softmax.
Here every batch row is one (ablation, sentence) pair and only the two verb logits are
computed, as their difference: ``logit(correct) - logit(wrong)`` from the top layer's last
hidden state (the softmax normaliser is shared, so its sign is the log-probability comparison).

Two more savings, both exact:

* sentences are grouped by token length, so no padding is ever fed to the model;
* layers below the lowest ablated layer are run once per sentence (without ablation) and their
  outputs reused, and the ablated layer's input projection ``x W_ih^T`` is computed once per
  sentence and shared by all ablation rows of that sentence.

Sentences are fed as ``[<eos>] + prefix`` from a zero state (``<eos>`` acts as the beginning of
sentence); the model predicts the verb from the state after the last prefix word.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from rnnscope.agreement.tasks import NAItem
from rnnscope.errors import RnnscopeError
from rnnscope.interventions import _gru_layer, _lstm_layer, _rnn_layer
from rnnscope.model import RecurrentLM
from rnnscope.vocab import Vocabulary

_STEP = {"lstm": _lstm_layer, "gru": _gru_layer, "rnn": _rnn_layer}

#: layer (1-based) -> component -> bool mask [R, H] (which units each row holds at zero)
Masks = Mapping[int, Mapping[str, torch.Tensor]]


@dataclass
class _Group:
    index: np.ndarray       # positions of these items in Encoded.items
    tokens: torch.Tensor    # [S, T] ids: <eos> + prefix
    direction: torch.Tensor  # [S, H] decoder row of the correct form minus the wrong one
    offset: torch.Tensor    # [S] the same for the decoder bias


@dataclass
class Encoded:
    """Items that can be scored (token ids ready), and those that cannot (with the reason)."""

    items: list[NAItem]
    ids: list[tuple[list[int], int, int]]  # (tokens, correct id, wrong id) per item
    n_unk: list[int]
    skipped: pd.DataFrame
    conditions: list[tuple[str, str]]  # every (task, condition) of the input, in order


def encode_items(items: list[NAItem], vocab: Vocabulary) -> Encoded:
    """Turn items into ids; items whose verb forms the vocabulary lacks are skipped (listed).

    Unknown prefix words become ``<unk>`` (counted per item in ``n_unk``); an unknown verb
    form can never be scored, so such items are reported in ``skipped``, not guessed.
    """
    if vocab.kind != "word":
        raise RnnscopeError(f"agreement scoring compares two verb forms and needs a word-level "
                            f"model; this vocabulary is {vocab.kind}-level")
    if not items:
        raise RnnscopeError("no agreement items given")
    kept, ids, n_unk, skipped, conds = [], [], [], [], []
    seen = set()
    for it in items:
        if (it.task, it.condition) not in seen:
            seen.add((it.task, it.condition))
            conds.append((it.task, it.condition))
        missing = [w for w in (it.correct, it.wrong) if w not in vocab.stoi]
        reason = None
        if missing:
            reason = f"verb form {missing[0]!r} is not in the vocabulary"
        elif it.correct == it.wrong:
            reason = "correct and wrong forms are identical"
        if reason:
            skipped.append({"task": it.task, "condition": it.condition, "item_id": it.item_id,
                            "source": it.source, "reason": reason})
            continue
        kept.append(it)
        ids.append(([vocab.eos_id] + vocab.encode(it.prefix), vocab.stoi[it.correct],
                    vocab.stoi[it.wrong]))
        n_unk.append(sum(w not in vocab.stoi for w in it.prefix))
    table = pd.DataFrame(skipped, columns=["task", "condition", "item_id", "source", "reason"])
    return Encoded(kept, ids, n_unk, table, conds)


def _zero_state(model: RecurrentLM, rows: int):
    return model.init_state(rows)


class _Mask:
    """Hold the masked units at zero (the ``clamp.apply(t, x)`` interface of interventions)."""

    def __init__(self, mask: torch.Tensor):
        self.mask = mask

    def apply(self, t: int, x: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(self.mask, 0.0)


class AblationEngine:
    """Logit differences of encoded items, clean or under batches of ablations.

    ``max_rows`` bounds the rows of one pass (rows = ablations x sentences of one length);
    memory grows with it (``max_rows * T * 4H`` floats for an LSTM layer's input projection).
    """

    def __init__(self, model: RecurrentLM, encoded: Encoded, max_rows: int = 1024):
        if not encoded.items:
            raise RnnscopeError("no item can be scored (all were skipped): "
                                + "; ".join(encoded.skipped["reason"].head(3)))
        self.model = model.eval()
        self.encoded = encoded
        self.max_rows = max(1, int(max_rows))
        self.n_items = len(encoded.items)
        self.groups = self._group(encoded)
        self._inputs: dict[tuple[int, int], torch.Tensor] = {}

    def _group(self, enc: Encoded) -> list[_Group]:
        w, b = self.model.decoder.weight.detach(), self.model.decoder.bias.detach()
        lengths = np.array([len(t) for t, _, _ in enc.ids])
        groups = []
        for length in np.unique(lengths):
            idx = np.flatnonzero(lengths == length)
            for start in range(0, len(idx), self.max_rows):
                part = idx[start: start + self.max_rows]
                tok = torch.tensor([enc.ids[i][0] for i in part], dtype=torch.long)
                c = torch.tensor([enc.ids[i][1] for i in part], dtype=torch.long)
                r = torch.tensor([enc.ids[i][2] for i in part], dtype=torch.long)
                groups.append(_Group(part, tok, w[c] - w[r], b[c] - b[r]))
        return groups

    # -- running layers -----------------------------------------------------------------
    def _layer(self, n: int, x: torch.Tensor, masks: Mapping[str, torch.Tensor] | None,
               gi: torch.Tensor | None = None) -> torch.Tensor:
        """Run 1-based layer ``n`` over ``x [R, T, D]`` (or its projection ``gi``); h [R, T, H]."""
        layer = self.model.layers[n - 1]
        rows = (x if gi is None else gi).shape[0]
        hx = _zero_state(self.model, rows)[n - 1]
        clamps = {c: _Mask(m) for c, m in (masks or {}).items()}
        # with gi given, the step function reads only gi and the time length of its x argument
        out = _STEP[self.model.cell](layer, x if gi is None else gi, hx, clamps.get, (), gi=gi)
        return out["h"]

    def _clean_input(self, g: int, n: int) -> torch.Tensor:
        """Input ``[S, T, D]`` of 1-based layer ``n`` for group ``g``, without ablation (cached)."""
        if (g, n) not in self._inputs:
            x = self.model.embed(self.groups[g].tokens) if n == 1 else \
                self._layer(n - 1, self._clean_input(g, n - 1), None)
            self._inputs[(g, n)] = x
        return self._inputs[(g, n)]

    def _projection(self, layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.model.cell == "gru":
            return torch.nn.functional.linear(x, layer.weight_ih_l0, layer.bias_ih_l0)
        return torch.nn.functional.linear(x, layer.weight_ih_l0, layer.bias_ih_l0 + layer.bias_hh_l0)

    @torch.no_grad()
    def _group_diffs(self, g: int, masks: Masks, rows: int) -> torch.Tensor:
        """``[rows, S]`` logit differences of group ``g`` under ``rows`` ablation rows."""
        grp = self.groups[g]
        s = grp.tokens.shape[0]
        top = self.model.config.num_layers
        start = min(masks) if masks else top
        layer = self.model.layers[start - 1]
        gi = self._projection(layer, self._clean_input(g, start))
        gi = gi.repeat(rows, 1, 1)  # row r * S + s: ablation r on sentence s

        def rowmasks(n):
            return {c: m.repeat_interleave(s, dim=0) for c, m in masks.get(n, {}).items()}

        h = self._layer(start, None, rowmasks(start), gi=gi)
        for n in range(start + 1, top + 1):
            h = self._layer(n, h, rowmasks(n))
        last = h[:, -1].reshape(rows, s, -1)
        return (last * grp.direction).sum(-1) + grp.offset

    def diffs(self, masks: Masks | None = None, progress=None) -> np.ndarray:
        """Logit differences ``[R, n_items]`` (``[n_items]`` without masks).

        ``masks[layer][component]`` is a bool ``[R, H]`` tensor: row ``r`` holds those units of
        that component at zero at every step.
        """
        masks = {n: dict(m) for n, m in (masks or {}).items() if m}
        r_total = next((m.shape[0] for mm in masks.values() for m in mm.values()), 1)
        for n, mm in masks.items():
            if not 1 <= n <= self.model.config.num_layers:
                raise RnnscopeError(f"layer {n} does not exist (model has "
                                    f"{self.model.config.num_layers})")
            for c, m in mm.items():
                if c not in self.model.components:
                    raise RnnscopeError(f"{self.model.cell} has no component {c!r}")
                if m.shape != (r_total, self.model.config.hidden_size):
                    raise RnnscopeError(f"mask of layer{n}.{c} has shape {tuple(m.shape)}, "
                                        f"expected ({r_total}, {self.model.config.hidden_size})")
        out = np.empty((r_total, self.n_items), dtype=np.float32)
        for g, grp in enumerate(self.groups):
            s = grp.tokens.shape[0]
            chunk = max(1, self.max_rows // s)
            for r0 in range(0, r_total, chunk):
                r1 = min(r_total, r0 + chunk)
                sub = {n: {c: m[r0:r1] for c, m in mm.items()} for n, mm in masks.items()}
                out[r0:r1, grp.index] = self._group_diffs(g, sub, r1 - r0).numpy()
                if progress is not None:
                    progress.update(r1 - r0)
        return out if masks else out[0]


def unit_masks(units: list[int], hidden: int) -> torch.Tensor:
    """One row per unit, True at that unit: ``[len(units), hidden]``."""
    m = torch.zeros(len(units), hidden, dtype=torch.bool)
    m[torch.arange(len(units)), torch.as_tensor(units, dtype=torch.long)] = True
    return m
