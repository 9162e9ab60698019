"""State gradients ``G[t, tau] = d s[t+tau] / d e[t]`` by forward-mode tangent propagation.

For every position ``t`` and delay ``tau = 0..T`` the Jacobian of a recurrent state ``s``
(LSTM ``c`` or ``h`` of any layer, GRU ``h``, RNN ``h``) with respect to the input embedding
``e[t]`` is an ``[H, E]`` matrix. Instead of one backward pass per state unit (H passes per
position), we push all E embedding directions forward at once: a tangent tensor ``[n, E, H]``
(plus the cell tangent for an LSTM) for ``n`` start positions, stepped through the exact
linearised recurrence using the gate values of a normal forward pass. One step of all
tangents is a single ``[n*E, H] @ [H, G*H]`` matmul, so the cost is that of E forward passes
per delay, the physical floor of the method (see ``bench/gradients.py``).

Nothing per-token is stored: the Jacobians are summed per delay into running sums for "all"
positions and per group (a class label of the token at ``t``: POS, word type, ...). When the
groups would not fit in ``max_bytes``, they are processed in several passes over the data and
each finished group is handed to a ``finalize`` callback (e.g. "keep only its spectrum").

Shapes: B = sequences in a batch, L = their length, n = start positions in a chunk,
E = embedding size, H = hidden size, T = max delay.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from rnnscope.cells.base import Cell
from rnnscope.errors import RnnscopeError
from rnnscope.keys import parse_key

ALL = "all"


@dataclass
class GradientSums:
    """Running sums of state gradients per delay: ``sum[tau]`` is ``[H, E]``, ``count[tau]`` an int.

    ``groups`` maps a group label to whatever ``finalize(sum [T+1,H,E], count [T+1])``
    returned for it (by default the pair itself). ``all`` is never finalised.
    """

    state: str
    max_delay: int
    all_sum: np.ndarray  # [T+1, H, E]
    all_count: np.ndarray  # [T+1]
    groups: dict[Any, Any] = field(default_factory=dict)
    group_counts: dict[Any, np.ndarray] = field(default_factory=dict)  # label -> [T+1]


def as_sequences(sequences) -> list[torch.Tensor]:
    """Token-id sequences as a list of 1-D tensors (from a [N, L] tensor or any sequences)."""
    if isinstance(sequences, torch.Tensor) and sequences.dim() == 2:
        return list(sequences)
    return [torch.as_tensor(np.asarray(s)) for s in sequences]


def check_state(model, state: str) -> tuple[int, str]:
    """Parse ``layer{n}.{c|h}`` and check the model has it; returns (1-based layer, component)."""
    layer, comp = parse_key(state)
    family = getattr(model, "family", None)
    if not isinstance(family, Cell):
        raise RnnscopeError(f"state gradients need an rnnscope recurrent LM, got {type(model).__name__}")
    if comp not in family.gradient_states:
        raise RnnscopeError(f"{family.name} state gradients are defined for "
                            f"{', '.join(family.gradient_states)}, not {comp!r} (gates are not states)")
    if layer > len(model.layers):
        raise RnnscopeError(f"{state}: the model has only {len(model.layers)} layer(s)")
    return layer, comp


def embedding_matrix(model) -> torch.Tensor:
    """The ``[V, E]`` input embedding matrix; a clear error for a model without one."""
    enc = getattr(model, "encoder", None)
    weight = getattr(enc, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise RnnscopeError("the model has no input embedding layer (model.encoder.weight); "
                            "state gradients are taken with respect to input embeddings")
    return weight


def state_gradient_sums(model, sequences, state: str = "layer1.c", max_delay: int = 50,
                        labels: Sequence[Sequence] | None = None, *,
                        embeds: Sequence[torch.Tensor] | None = None,
                        finalize: Callable[[np.ndarray, np.ndarray], Any] | None = None,
                        batch_size: int = 32, start_chunk: int = 256,
                        max_bytes: int = 512 * 2**20, progress: bool | None = None) -> GradientSums:
    """Sum ``d state[t+tau] / d e[t]`` over positions ``t`` for every delay ``tau <= max_delay``.

    ``sequences``: token-id sequences (each run from the zero state) or, with ``embeds``, ignored
    in favour of ``[L, E]`` input embeddings (``inputs_embeds``). ``labels``: optional per-position
    labels aligned with ``sequences``; ``None`` labels are counted only in ``all``. Returns a
    :class:`GradientSums`; means are ``sum / count``. Computation is in the model's dtype
    (use a float64 copy for exact comparisons).
    """
    layer, comp = check_state(model, state)
    max_delay = int(max_delay)
    if max_delay < 0:
        raise RnnscopeError(f"max delay must be >= 0, got {max_delay}")
    if embeds is not None:
        inputs = [torch.as_tensor(e) for e in embeds]
        lengths = [int(e.shape[0]) for e in inputs]
    else:
        embedding_matrix(model)
        inputs = as_sequences(sequences)
        lengths = [int(s.shape[0]) for s in inputs]
    if not lengths or max(lengths) == 0:
        raise RnnscopeError("no input positions: every sequence is empty")
    if max_delay >= max(lengths):
        raise RnnscopeError(f"max delay {max_delay} is not shorter than every sequence (the longest has "
                            f"{max(lengths)} positions); lower the max delay or use longer sequences")
    gids, names = group_ids(labels, lengths)
    p = next(model.parameters())
    E = model.config.emb_dim
    H = model.config.width(layer, comp)
    per_group = (max_delay + 1) * H * E * p.element_size()
    per_pass = max(1, int(max_bytes // max(per_group, 1)))
    passes = [list(range(a, min(a + per_pass, len(names)))) for a in range(0, len(names), per_pass)] or [[]]
    out = GradientSums(state, max_delay, np.zeros((max_delay + 1, H, E)), np.zeros(max_delay + 1, dtype=np.int64))
    dev = p.device  # every tensor lives where the model does; results come back once, at the end
    all_sum = torch.zeros(max_delay + 1, E, H, dtype=p.dtype, device=dev)
    all_count = torch.zeros(max_delay + 1, dtype=torch.int64, device=dev)
    order = sorted(range(len(inputs)), key=lambda i: -lengths[i])
    batches = [order[a:a + batch_size] for a in range(0, len(order), batch_size)]
    bar = tqdm(total=sum(lengths), desc=f"state gradients {state}", unit="pos",
               disable=(not _tty()) if progress is None else not progress)
    with torch.no_grad():
        for pi, groups in enumerate(passes):
            lo = groups[0] if groups else 0
            g_sum = torch.zeros(max_delay + 1, len(groups), E, H, dtype=p.dtype, device=dev)
            g_count = torch.zeros(max_delay + 1, len(groups), dtype=torch.int64, device=dev)
            for rows in batches:
                x, lens = _batch_inputs(model, inputs, rows, embeds is not None)
                steps = _record(model, x, layer)
                gid = _pad_ids([gids[i] for i in rows], x.shape[1]).to(dev)  # [B, L], -1 = no group
                b_idx, t_idx = torch.nonzero(torch.arange(x.shape[1], device=dev)[None, :] < lens[:, None],
                                             as_tuple=True)
                g = gid[b_idx, t_idx]
                if groups:
                    inside = (g >= lo) & (g < lo + len(groups))
                    keep = inside | (g < 0) if pi == 0 else inside
                else:
                    keep = torch.ones_like(g, dtype=torch.bool)
                b_idx, t_idx, g = b_idx[keep], t_idx[keep], g[keep]
                for a in range(0, len(b_idx), start_chunk):
                    sl = slice(a, a + start_chunk)
                    _propagate(model, steps, layer, comp, b_idx[sl], t_idx[sl], lens, g[sl] - lo,
                               len(groups), max_delay, all_sum, all_count, g_sum, g_count)
                    bar.update(int(len(b_idx[sl])))
            for k, gi in enumerate(groups):
                s = g_sum[:, k].transpose(1, 2).cpu().double().numpy()
                c = g_count[:, k].cpu().numpy().copy()
                out.group_counts[names[gi]] = c
                out.groups[names[gi]] = finalize(s, c) if finalize else (s, c)
    bar.close()
    out.all_sum = all_sum.transpose(1, 2).cpu().double().numpy()
    out.all_count = all_count.cpu().numpy()
    return out


def _tty() -> bool:
    return sys.stderr.isatty()


def group_ids(labels, lengths) -> tuple[list[torch.Tensor], list]:
    """Per-sequence int group ids (-1 = none) and the sorted list of group names."""
    if labels is None:
        return [torch.full((n,), -1, dtype=torch.int64) for n in lengths], []
    if len(labels) != len(lengths):
        raise RnnscopeError(f"labels cover {len(labels)} sequences but there are {len(lengths)}")
    seen = set()
    for k, (lab, n) in enumerate(zip(labels, lengths)):
        if len(lab) != n:
            raise RnnscopeError(f"sequence {k}: {len(lab)} labels for {n} positions")
        seen.update(x for x in lab if not _missing(x))
    names = sorted(seen, key=lambda v: (str(type(v)), v))
    index = {v: i for i, v in enumerate(names)}
    ids = [torch.tensor([-1 if _missing(x) else index[x] for x in lab], dtype=torch.int64) for lab in labels]
    return ids, names


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x))


def _pad_ids(ids: list[torch.Tensor], L: int) -> torch.Tensor:
    out = torch.full((len(ids), L), -1, dtype=torch.int64)
    for r, v in enumerate(ids):
        out[r, : len(v)] = v
    return out


def _batch_inputs(model, inputs, rows, are_embeds) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``[B, L, E]`` input embeddings and the lengths of the rows."""
    p = next(model.parameters())
    lengths = [int(inputs[i].shape[0]) for i in rows]  # host ints: no device sync per row
    lens = torch.tensor(lengths, device=p.device)
    L = max(lengths)
    if are_embeds:
        x = torch.zeros(len(rows), L, inputs[rows[0]].shape[1], dtype=p.dtype, device=p.device)
        for r, i in enumerate(rows):
            x[r, : lengths[r]] = inputs[i].to(device=p.device, dtype=p.dtype)
        return x, lens
    tok = torch.zeros(len(rows), L, dtype=torch.long, device=p.device)
    for r, i in enumerate(rows):
        tok[r, : lengths[r]] = inputs[i].to(p.device).long()
    return model.embed(tok), lens


@dataclass
class _Layer:
    """What the tangent step of one layer needs, for every step of the batch: ``[B, L, H]`` each."""

    cell: Cell
    layer: torch.nn.Module
    values: dict[str, torch.Tensor]


def _record(model, x: torch.Tensor, upto: int) -> list[_Layer]:
    """Run the model on ``x`` and keep the values the tangent steps of layers 1..upto need."""
    family = model.family
    comps = list(family.components)
    _, rec, _ = model.run_with_states(inputs_embeds=x, components=comps, compute_logits=False)
    out = []
    for n in range(1, upto + 1):
        lay = model.layers[n - 1]
        v = family.tangent_values(lay, {c: rec[f"layer{n}.{c}"] for c in comps})
        out.append(_Layer(family, lay, v))
    return out


def _propagate(model, steps: list[_Layer], layer: int, comp: str, b: torch.Tensor, t: torch.Tensor,
               lens: torch.Tensor, g: torch.Tensor, n_groups: int, max_delay: int,
               all_sum, all_count, g_sum, g_count) -> None:
    """Step the tangents of start positions ``(b, t)`` through delays 0..T and add them to the sums."""
    E = int(model.config.emb_dim)
    dtype = model.encoder.weight.dtype
    n = len(b)
    tang = [None] * layer  # per layer: (dh, dc) for LSTM, dh otherwise; [n, E, H]
    eye = torch.eye(E, dtype=dtype, device=model.encoder.weight.device)
    for tau in range(max_delay + 1):
        p = t + tau
        alive = p < lens[b]
        if not bool(alive.all()):
            idx = torch.nonzero(alive, as_tuple=True)[0]
            if len(idx) == 0:
                break
            b, t, p, g = b[idx], t[idx], p[idx], g[idx]
            tang = [None if s is None else tuple(x[idx] for x in s) for s in tang]
        n = len(b)
        dx = eye.expand(n, E, E) if tau == 0 else None
        for k in range(layer):
            st = steps[k]
            vals = {name: arr[b, p].unsqueeze(1) for name, arr in st.values.items()}  # [n, 1, H]
            tang[k] = st.cell.tangent_step(st.layer, vals, dx, tang[k])
            dx = tang[k][0]
        target = tang[layer - 1][1] if comp == "c" else tang[layer - 1][0]  # [n, E, H]
        all_sum[tau] += target.sum(0)
        all_count[tau] += n
        if n_groups:
            ok = (g >= 0) & (g < n_groups)
            if bool(ok.any()):
                gi = g[ok]
                g_sum[tau].index_add_(0, gi, target[ok])
                g_count[tau].index_add_(0, gi, torch.ones_like(gi))


def reverse_mode_gradients(model, tokens: torch.Tensor, state: str, starts: Sequence[int],
                           max_delay: int, targets: Sequence[int] | None = None) -> np.ndarray:
    """Reference: ``G[t, tau]`` by one ``autograd.grad`` per state unit (the original method; slow).

    ``tokens`` is one sequence ``[L]``; returns ``[len(starts), T+1, H, E]`` (NaN past the end,
    and for target steps ``t + tau`` not in ``targets`` when that subset is given).
    Used by the tests and ``bench/gradients.py`` only.
    """
    layer, comp = check_state(model, state)
    x = model.embed(tokens[None].long()).detach().requires_grad_(True)
    _, rec, _ = model.run_with_states(inputs_embeds=x, components=[comp], compute_logits=False)
    s = rec[state][0]  # [L, H]
    L, H = s.shape
    out = np.full((len(starts), max_delay + 1, H, x.shape[-1]), np.nan)
    for q in (range(L) if targets is None else targets):  # one backward pass per (target, unit): all delays
        wanted = [(k, q - t) for k, t in enumerate(starts) if 0 <= q - t <= max_delay]
        if not wanted:
            continue
        for j in range(H):
            (grad,) = torch.autograd.grad(s[q, j], x, retain_graph=True)
            for k, tau in wanted:
                out[k, tau, j] = grad[0, starts[k]].cpu().double().numpy()
    return out


# -- inputs from a corpus -----------------------------------------------------------------------
_PTB_DROP_TAGS = {",", ".", ":", "``", "''", "-LRB-", "-RRB-", "-NONE-"}
_NUMBER = re.compile(r"^([+-]?[\d.,]*\d[\d,./:\\-]*|%)$")  # 3,000 1.5 3\/4 % -> N


def ptb_normalise(corpus):
    """Words and tags of a tagged WSJ corpus normalised like the Mikolov PTB text.

    Lowercase; numbers (also fractions ``3\\/4`` and ``%``, which the PTB text writes as ``N``)
    become ``N``; punctuation tokens (tags ``, . : `` '' -LRB- -RRB-``) and
    traces are dropped. Unknown words become ``<unk>`` later, through the vocabulary.
    """
    from rnnscope.corpus.types import Corpus, Sentence

    out = []
    for s in corpus:
        tags = s.annotations.get("xpos") or [None] * len(s.words)
        keep = [k for k, t in enumerate(tags) if t not in _PTB_DROP_TAGS]
        words = ["N" if _NUMBER.match(s.words[k]) else s.words[k].lower() for k in keep]
        ann = {c: [v[k] for k in keep] for c, v in s.annotations.items() if v is not None}
        if words:
            out.append(Sentence(words, ann, s.sent_id))
    return Corpus(out, getattr(corpus, "name", "ptb-normalised"))


def corpus_sequences(corpus, vocab, group_by: str | None = None, window: int | None = 200,
                     eos: bool = True) -> tuple[list[np.ndarray], list[list] | None]:
    """Token-id sequences and per-position group labels of ``corpus`` for :func:`state_gradient_sums`.

    Sentences are aligned to the vocabulary's units (``<eos>`` after each when ``eos``), joined
    into one stream and cut into windows of ``window`` units, each run from the zero state
    (``window=None``: one sequence per sentence). ``group_by``: ``None``, ``"word"`` (the unit
    string; ``<eos>`` included) or an annotation column such as ``"xpos"``/``"upos"`` (a unit gets
    the tag of its word; separators and ``<eos>`` get no group).
    """
    from rnnscope.corpus.align import align_sentence

    ids: list[list[int]] = []
    labs: list[list] = []
    for i, sent in enumerate(corpus):
        a = align_sentence(sent, i, vocab)
        seq, lab = list(a.ids), []
        if group_by == "word":
            lab = [vocab.itos[t] for t in a.ids]
        elif group_by is not None:
            col = sent.annotations.get(group_by)
            if col is None:
                raise RnnscopeError(f"sentence {sent.sent_id or i}: no {group_by!r} annotation to group by")
            lab = [None if w < 0 else col[w] for w in a.word_of_unit]
        if eos:
            seq.append(vocab.eos_id)
            lab.append("<eos>" if group_by == "word" else None)
        ids.append(seq)
        labs.append(lab)
    if window is not None:
        flat = [t for s in ids for t in s]
        flat_lab = [x for s in labs for x in s]
        ids = [flat[a:a + window] for a in range(0, len(flat), window)]
        labs = [flat_lab[a:a + window] for a in range(0, len(flat_lab), window)] if group_by else []
    seqs = [np.asarray(s, dtype=np.int64) for s in ids if len(s)]
    if not seqs:
        raise RnnscopeError("the corpus has no units to analyse")
    return seqs, (labs if group_by else None)
