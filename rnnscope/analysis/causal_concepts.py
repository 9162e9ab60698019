"""From correlation to cause: does ablating a concept unit hurt the LM where its concept occurs?

A probe (``concepts``) finds units whose activation *predicts* a tag. That does not mean the
model *uses* them. Here each unit is ablated while the model runs (held at its mean, or zero,
at every step, with :func:`rnnscope.interventions.run_stepwise`; one ablated unit per batch
row, so a whole sweep is one pass per sentence chunk) and we measure the change in the LM's
loss (nats per token) on

* tokens of the unit's class (``position="input"``: the loss of the prediction made while
  reading a token of that class; ``"target"``: the loss of predicting a token of that class),
* all other tokens,

and compare with a permutation baseline: the same ablation of ``n_random`` random units of the
same layer and component. ``p_value`` = share of random units whose loss change on the class
tokens is at least as large (with the usual +1 correction). A probe-found unit whose
``p_value`` exceeds ``alpha`` is flagged ``no causal effect``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from rnnscope.errors import RnnscopeError
from rnnscope.extract import without_onednn
from rnnscope.interventions import Intervention, run_stepwise
from rnnscope.keys import parse_key
from rnnscope.notebook import HtmlRepr


@dataclass(frozen=True)
class UnitTest:
    """A unit to ablate: ``key`` (``layer1.c``), 0-based ``unit``, and the class a probe
    assigned it to (``None`` for a unit the user named: it is reported for every class)."""

    key: str
    unit: int
    probe_class: str | None = None


@dataclass
class CausalResult(HtmlRepr):
    """``table``: one row per (unit, class): loss changes, specificity, permutation p-value,
    ``causal`` and ``flag``. ``random``: the baseline units' loss changes per class."""

    table: pd.DataFrame
    random: pd.DataFrame

    def flagged(self) -> pd.DataFrame:
        """Probe-found units with no causal effect on their own class."""
        t = self.table
        return t[(t["class"] == t["probe_class"]) & ~t["causal"]]


def _nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``-log p(target)`` for ``logits [B, T, V]`` and ``targets [B, T]``."""
    return -torch.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None])[..., 0]


@torch.no_grad()
@without_onednn()
def causal_effects(model, sequences: Sequence[Sequence[int]], labels: Sequence[Sequence],
                   tests: Sequence[UnitTest], n_random: int = 19, value: str | float = "mean",
                   means: dict | None = None, position: str = "input", alpha: float = 0.05,
                   seed: int = 0, max_logits: int = 20_000_000, progress: bool = True,
                   ) -> CausalResult:
    """Ablate every unit of ``tests`` (and random units per layer.component) over ``sequences``.

    ``sequences``: token ids as the model reads them (e.g. ``<eos>`` first); ``labels[s][t]``:
    the class of token ``t`` of sequence ``s`` (``None`` = not counted). ``means`` maps keys to
    per-unit means (needed for ``value="mean"``; see ``ActivationStore.mean``).
    """
    if position not in ("input", "target"):
        raise RnnscopeError(f"position must be 'input' or 'target', got {position!r}")
    if not tests:
        raise RnnscopeError("no units to test")
    if len(sequences) != len(labels) or not len(sequences):
        raise RnnscopeError(f"{len(sequences)} sequences but {len(labels)} label lists")
    classes = sorted({str(v) for seq in labels for v in seq if v is not None})
    if not classes:
        raise RnnscopeError("no labelled tokens to measure the loss on")
    cls_index = {c: i for i, c in enumerate(classes)}
    rng = np.random.default_rng(seed)
    plans = {}  # key -> (tested units, random units)
    for t in tests:
        layer, comp = parse_key(t.key)
        if comp not in model.components or layer > model.config.num_layers:
            raise RnnscopeError(f"the model has no {t.key} (it has {model.config.num_layers} "
                                f"{model.cell} layers: {', '.join(model.components)})")
        hidden = model.config.width(layer, comp)
        if not 0 <= t.unit < hidden:
            raise RnnscopeError(f"unit {t.unit} outside 0..{hidden - 1}")
        plans.setdefault(t.key, [])
        if t.unit not in plans[t.key]:
            plans[t.key].append(t.unit)
    variants = []  # (key, unit, is_random)
    for k, units in plans.items():
        pool = np.setdiff1d(np.arange(model.config.width(*parse_key(k))), units)
        rand = rng.choice(pool, size=min(n_random, len(pool)), replace=False)
        variants += [(k, int(u), False) for u in units] + [(k, int(u), True) for u in rand]
    rows_per_seq = 1 + len(variants)
    ivs = [[]] + [[Intervention(*parse_key(k), [u], value=value)] for k, u, _ in variants]
    mean_t = {k: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k, v in (means or {}).items()}
    sums = np.zeros((len(variants), len(classes) + 1))  # last column: other tokens
    counts = np.zeros(len(classes) + 1)
    order = np.argsort([len(s) for s in sequences])
    vocab_size = model.config.vocab_size
    b = 0
    bar = tqdm(total=len(order), desc="ablate", disable=not progress, leave=False)
    while b < len(order):
        length = len(sequences[order[min(len(order) - 1, b)]])
        per = max(1, int(max_logits // max(1, rows_per_seq * length * vocab_size)))
        idx = order[b:b + per]
        b += len(idx)
        bar.update(len(idx))
        T = max(len(sequences[i]) for i in idx)
        if T < 2:
            continue
        tokens = torch.zeros((len(idx), T), dtype=torch.long)
        lab = np.full((len(idx), T - 1), -1, dtype=np.int64)
        valid = np.zeros((len(idx), T - 1), dtype=bool)
        for j, i in enumerate(idx):
            seq = list(sequences[i])
            tokens[j, :len(seq)] = torch.as_tensor(seq)
            valid[j, :len(seq) - 1] = True
            seq_lab = list(labels[i]) + [None]
            src = seq_lab[:len(seq) - 1] if position == "input" else seq_lab[1:len(seq)]
            lab[j, :len(src)] = [cls_index[str(v)] if v is not None else len(classes) for v in src]
        batch = tokens.repeat_interleave(rows_per_seq, dim=0)
        logits, _ = run_stepwise(model, batch, ivs * len(idx), means=mean_t or None)
        nll = _nll(logits[:, :-1], batch[:, 1:]).view(len(idx), rows_per_seq, T - 1).cpu().numpy()
        delta = nll[:, 1:] - nll[:, :1]  # [seqs, variants, T-1]
        flat_lab = lab[valid]
        counts += np.bincount(flat_lab, minlength=len(classes) + 1)
        for v in range(len(variants)):
            sums[v] += np.bincount(flat_lab, weights=delta[:, v][valid], minlength=len(classes) + 1)
    bar.close()
    return _tables(variants, tests, classes, sums, counts, alpha)


def _tables(variants, tests, classes, sums, counts, alpha) -> CausalResult:
    """Per (unit, class) loss changes, compared with the random units of the same key."""
    total = sums.sum(1)
    n_all = counts.sum()
    rows = []
    for v, (k, u, is_random) in enumerate(variants):
        for c, cls in enumerate(classes):
            if counts[c] == 0:
                continue
            d_cls = sums[v, c] / counts[c]
            d_other = (total[v] - sums[v, c]) / max(1.0, n_all - counts[c])
            rows.append({"key": k, "unit": u, "class": cls, "random": is_random,
                         "delta_class": d_cls, "delta_other": d_other,
                         "specificity": d_cls - d_other, "n_class": int(counts[c])})
    every = pd.DataFrame(rows)
    random = every[every["random"]].drop(columns="random").reset_index(drop=True)
    tested = every[~every["random"]].drop(columns="random")
    probe_classes: dict[tuple, set] = {}
    for t in tests:
        probe_classes.setdefault((t.key, t.unit), set()).add(t.probe_class)
    own = [c if c in probe_classes[(k, u)] else None
           for k, u, c in zip(tested["key"], tested["unit"], tested["class"])]
    named = [None in probe_classes[(k, u)] for k, u in zip(tested["key"], tested["unit"])]
    tested = tested.assign(probe_class=own)[[o is not None or n for o, n in zip(own, named)]]
    base = random.groupby(["key", "class"])["delta_class"]
    stats = pd.DataFrame({"random_mean": base.mean(), "random_sd": base.std()}).reset_index()
    table = tested.merge(stats, on=["key", "class"], how="left")
    grouped = {kc: g.to_numpy() for kc, g in base}
    table["p_value"] = [(1 + np.sum(grouped.get((k, c), np.array([])) >= d)) /
                        (1 + len(grouped.get((k, c), [])))
                        for k, c, d in zip(table["key"], table["class"], table["delta_class"])]
    table["z"] = (table["delta_class"] - table["random_mean"]) / table["random_sd"]
    table["causal"] = (table["p_value"] <= alpha) & (table["delta_class"] > 0)
    table["flag"] = np.where(table["causal"], "",
                             np.where(table["probe_class"].notna(), "no causal effect", "no effect"))
    cols = ["key", "unit", "probe_class", "class", "delta_class", "delta_other", "specificity",
            "random_mean", "z", "p_value", "causal", "flag", "n_class"]
    return CausalResult(table[cols].reset_index(drop=True), random)


def store_sequences(store, vocab, labels: np.ndarray, rows: np.ndarray,
                    max_sentences: int | None = None, seed: int = 0):
    """Rebuild what the extractor fed the model (``<eos>`` + units of each sentence) and put
    ``labels`` (one per selected row) at their positions; other positions get ``None``."""
    t = store.tokens
    full = np.full(len(t), None, dtype=object)
    full[rows] = labels
    sentences = t["sentence"].to_numpy()
    order = np.lexsort((t["position"].to_numpy(), sentences))
    ids_all = np.asarray(vocab.encode(t["token"].astype(str).tolist()))
    starts = np.flatnonzero(np.r_[True, sentences[order][1:] != sentences[order][:-1]])
    bounds = list(zip(starts, np.r_[starts[1:], len(order)]))
    if max_sentences is not None and len(bounds) > max_sentences:
        pick = np.sort(np.random.default_rng(seed).choice(len(bounds), max_sentences, replace=False))
        bounds = [bounds[i] for i in pick]
    seqs, labs = [], []
    for a, b in bounds:
        rows_s = order[a:b]
        seqs.append([vocab.eos_id, *ids_all[rows_s].tolist()])
        labs.append([None, *full[rows_s].tolist()])
    return seqs, labs


def concept_causality(model, vocab, store, concept_result=None, units: Sequence[UnitTest] = (),
                      feature: str | None = None, read: str | None = None, group: bool = False,
                      min_count: int = 1, top: int = 1, n_random: int = 19,
                      value: str | float = "mean", max_sentences: int | None = 200,
                      position: str = "input", alpha: float = 0.05, seed: int = 0,
                      progress: bool = True) -> CausalResult:
    """Test the top ``top`` units of every class of a :class:`ConceptResult` (and ``units``).

    The tags are read from ``store`` as ``concepts`` read them (same ``feature``, ``read``,
    ``group``, ``min_count``); the model is the one the store was extracted from.
    """
    from rnnscope.analysis.concepts import concept_labels

    tests = list(units)
    if concept_result is not None:
        feature = feature or concept_result.feature
        for cls in concept_result.weights.index:
            tests += [UnitTest(concept_result.key, u, cls) for u in concept_result.top_units(cls)[:top]]
    if not tests:
        raise RnnscopeError("no units to test: give a concepts result or units")
    if feature is None:
        raise RnnscopeError("say which feature (tag column) labels the tokens")
    if read is None:
        read = "word_end" if store.meta.get("vocab_kind", "word") == "word" else "every"
    labels, rows = concept_labels(store.tokens, feature, read, group, min_count)
    seqs, labs = store_sequences(store, vocab, labels, rows, max_sentences, seed)
    means = {k: store.mean(k) for k in {t.key for t in tests}} if value == "mean" else None
    return causal_effects(model, seqs, labs, tests, n_random=n_random, value=value, means=means,
                          position=position, alpha=alpha, seed=seed, progress=progress)
