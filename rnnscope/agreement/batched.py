"""Score many agreement prefixes under many ablations in a few batched passes.

The research code runs one forward pass per (ablated unit, sentence) with the full softmax.
Here every batch row is one (ablation, sentence) pair and only the two verb logits are
computed, as their difference: ``logit(correct) - logit(wrong)`` from the top layer's last
hidden state (the softmax normaliser is shared, so its sign is the log-probability comparison).

More savings, all exact:

* the items' token sequences form a prefix tree ("The boy near the" is shared by the SS and SP
  versions of a frame, ``<eos> The`` by all); the recurrence runs once per tree node, level by
  level, never on padding (2x fewer steps at 2 sentences per condition, 6x at 600);
* layers below the lowest ablated layer are run once (without ablation) and their outputs
  reused, and the ablated layer's input projection ``x W_ih^T`` is computed once per node and
  shared by all ablation rows.

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
from rnnscope.device import model_device
from rnnscope.errors import RnnscopeError
from rnnscope.model import RecurrentLM
from rnnscope.vocab import Vocabulary

#: layer (1-based) -> component -> bool mask [R, H] (which units each row holds at zero)
Masks = Mapping[int, Mapping[str, torch.Tensor]]


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


class _Trie:
    """The token prefixes of some items as a tree, level by level.

    ``tokens[d]`` / ``parent[d]``: token id and parent node (index into level ``d - 1``) of
    every node at depth ``d``; local item ``i`` (global index ``items[i]``) ends at node
    ``end_node[i]`` of level ``end_depth[i]``. Items that share a prefix ("The boy near the" in
    SS and SP) share its nodes, so the recurrence runs once per distinct prefix.
    """

    def __init__(self, items: np.ndarray, sequences: list[list[int]], good, bad, direction=None,
                 offset=None, device: torch.device | None = None):
        self.items = items
        self.good, self.bad = good, bad  # [items] ids of the correct and the wrong verb form
        self.direction, self.offset = direction, offset  # [items, H], [items]; linear output only
        levels: list[dict[tuple[int, int], int]] = []
        self.end_depth = np.empty(len(sequences), dtype=np.int64)
        self.end_node = np.empty(len(sequences), dtype=np.int64)
        for i, seq in enumerate(sequences):
            node = 0
            for d, tok in enumerate(seq):
                if d == len(levels):
                    levels.append({})
                node = levels[d].setdefault((node if d else 0, tok), len(levels[d]))
            self.end_depth[i], self.end_node[i] = len(seq) - 1, node
        self.tokens = [torch.tensor([t for _, t in lv], dtype=torch.long, device=device) for lv in levels]
        self.parent = [torch.tensor([p for p, _ in lv], dtype=torch.long, device=device) for lv in levels]
        self.ends = [np.flatnonzero(self.end_depth == d) for d in range(len(levels))]
        self.inputs: dict[int, list[torch.Tensor]] = {}  # clean input of each layer, per level

    @property
    def widest(self) -> int:
        return max(len(t) for t in self.tokens)


def _blocks(seqs: list[list[int]], max_nodes: int) -> list[np.ndarray]:
    """Item indices in sorted order, cut into blocks of at most ``max_nodes`` tree nodes."""
    order = sorted(range(len(seqs)), key=lambda i: seqs[i])
    blocks, current, nodes, prev = [], [], 0, []
    for i in order:
        seq = seqs[i]
        common = 0
        while common < min(len(seq), len(prev)) and seq[common] == prev[common]:
            common += 1
        new = len(seq) - common
        if current and nodes + new > max_nodes:
            blocks.append(np.array(current))
            current, nodes, new = [], 0, len(seq)
        current.append(i)
        nodes += new
        prev = seq
    blocks.append(np.array(current))
    return blocks


class AblationEngine:
    """Logit differences of encoded items, clean or under batches of ablations.

    Items are split into prefix trees of at most ``max_nodes`` nodes (the clean activity of
    every node is cached, ``max_nodes x H`` floats per layer). Each pass runs ``rows``
    ablations over one tree; ``max_rows`` bounds ``rows x`` (nodes of the widest tree level),
    but a pass holds at least one ablation.
    """

    def __init__(self, model: RecurrentLM, encoded: Encoded, max_rows: int = 1024,
                 max_nodes: int = 50_000):
        if not encoded.items:
            raise RnnscopeError("no item can be scored (all were skipped): "
                                + "; ".join(encoded.skipped["reason"].head(3)))
        self.model = model.eval()
        self.device = model_device(model)
        self.encoded = encoded
        self.n_items = len(encoded.items)
        self.max_rows = max(1, int(max_rows))
        seqs = [t for t, _, _ in encoded.ids]
        self.blocks = []
        for idx in _blocks(seqs, max_nodes):
            c = torch.tensor([encoded.ids[i][1] for i in idx], dtype=torch.long, device=self.device)
            r = torch.tensor([encoded.ids[i][2] for i in idx], dtype=torch.long, device=self.device)
            linear = {}
            if model.linear_output:  # the margin is one dot product: precompute its direction
                w, b = model.decoder.weight.detach(), model.decoder.bias.detach()
                linear = {"direction": w[c] - w[r], "offset": b[c] - b[r]}
            self.blocks.append(_Trie(idx, [seqs[i] for i in idx], c, r, **linear, device=self.device))

    # -- one step of one layer ----------------------------------------------------------
    def _step(self, n: int, x: torch.Tensor | None, prev: tuple, masks: Mapping[str, torch.Tensor],
              gi: torch.Tensor | None = None) -> tuple:
        """Advance 1-based layer ``n`` one step for every row: the new state, each ``[R, H]``.

        ``x`` is the layer's input ``[R, E]``, or ``gi`` its input projection when shared."""
        layer = self.model.layers[n - 1]
        family = self.model.family
        if gi is None:
            gi = family.project(layer, x)

        def clamp(name: str, value: torch.Tensor) -> torch.Tensor:
            mask = masks.get(name)
            return value if mask is None else value.masked_fill(mask, 0.0)
        return family.step(layer, gi, prev, clamp)[0]

    def _zeros(self, rows: int, n: int) -> tuple:
        """A zero state of 1-based layer ``n`` for ``rows`` rows."""
        w = self.model.encoder.weight
        return tuple(w.new_zeros(rows, width) for width in self.model.config.state_widths(n))

    @staticmethod
    def _gather(state: tuple, idx: torch.Tensor) -> tuple:
        return tuple(s.index_select(0, idx) for s in state)

    def _clean_input(self, trie: _Trie, n: int) -> list[torch.Tensor]:
        """Input of 1-based layer ``n`` at every level of ``trie``, without ablation (cached)."""
        if n not in trie.inputs:
            if n == 1:
                trie.inputs[n] = [self.model.embed(t) for t in trie.tokens]
            else:
                below, outs, state = self._clean_input(trie, n - 1), [], None
                for d, x in enumerate(below):
                    prev = self._zeros(len(x), n - 1) if d == 0 else self._gather(state, trie.parent[d])
                    state = self._step(n - 1, x, prev, {})
                    outs.append(state[0])
                trie.inputs[n] = outs
        return trie.inputs[n]

    def _projection(self, n: int, x: torch.Tensor) -> torch.Tensor:
        return self.model.family.project(self.model.layers[n - 1], x)

    @torch.no_grad()
    def _pass(self, trie: _Trie, masks: Masks, rows: int) -> torch.Tensor:
        """``[rows, items of trie]`` logit differences under ``rows`` ablation rows."""
        top = self.model.config.num_layers
        start = min(masks) if masks else top
        out = torch.empty(rows, len(trie.items), device=self.device)
        dev = dict(device=self.device)
        states: dict[int, tuple] = {}
        width_prev = 0
        for d, tokens in enumerate(trie.tokens):
            width = len(tokens)
            if d:
                idx = (torch.arange(rows, **dev)[:, None] * width_prev + trie.parent[d][None, :]).reshape(-1)
            x = None
            for n in range(start, top + 1):
                prev = self._zeros(rows * width, n) if d == 0 else self._gather(states[n], idx)
                m = {c: mk.repeat_interleave(width, dim=0) for c, mk in masks.get(n, {}).items()}
                gi = self._projection(n, self._clean_input(trie, n)[d]).repeat(rows, 1) \
                    if n == start else None
                states[n] = self._step(n, x, prev, m, gi=gi)
                x = states[n][0]
            ends = trie.ends[d]
            if len(ends):
                h = x.reshape(rows, width, -1)[:, torch.as_tensor(trie.end_node[ends], **dev)]
                if trie.direction is not None:
                    out[:, ends] = (h * trie.direction[ends]).sum(-1) + trie.offset[ends]
                else:
                    e = torch.as_tensor(ends, **dev)
                    margin = self.model.pair_margin(h.reshape(-1, h.shape[-1]),
                                                    trie.good[e].repeat(rows), trie.bad[e].repeat(rows))
                    out[:, ends] = margin.view(rows, len(ends))
            width_prev = width
        return out

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
                width = self.model.config.width(n, c)
                if m.shape != (r_total, width):
                    raise RnnscopeError(f"mask of layer{n}.{c} has shape {tuple(m.shape)}, "
                                        f"expected ({r_total}, {width})")
        out = np.empty((r_total, self.n_items), dtype=np.float32)
        for trie in self.blocks:
            chunk = max(1, self.max_rows // trie.widest)
            for r0 in range(0, r_total, chunk):
                r1 = min(r_total, r0 + chunk)
                sub = {n: {c: m[r0:r1].to(self.device) for c, m in mm.items()} for n, mm in masks.items()}
                out[r0:r1, trie.items] = self._pass(trie, sub, r1 - r0).cpu().numpy()
                if progress is not None:
                    progress.update((r1 - r0) / len(self.blocks))
        return out if masks else out[0]


def unit_masks(units: list[int], hidden: int) -> torch.Tensor:
    """One row per unit, True at that unit: ``[len(units), hidden]``."""
    m = torch.zeros(len(units), hidden, dtype=torch.bool)
    m[torch.arange(len(units)), torch.as_tensor(units, dtype=torch.long)] = True
    return m
