"""Single-unit ablation and interchange patching on whole-sentence minimal pairs.

The items of :mod:`~rnnscope.agreement.minimal_pairs` (Marvin & Linzen templates, BLiMP
paradigms) are scored under interventions in one of two ways:

* **word** (the fast default, :func:`agreement_items`): a pair whose two sentences differ in
  exactly one word is an NA item — prefix = the shared words before it, correct / wrong = the
  two words there ("the author laughs" / "the author laugh" is prefix "the author", laughs vs
  laugh) — scored as NA items are, ``log p(correct | prefix) > log p(wrong | prefix)``, by the
  batched :class:`~rnnscope.agreement.batched.AblationEngine`, so every tool built for NA
  items (:func:`~rnnscope.agreement.ablation.ablation_sweep`, subset ablation, the
  distributed sweep) takes them unchanged. This compares the two words, not the sentences:
  it is the right question when the differing word is the one that must agree with something
  before it (the verb or the reflexive in Marvin & Linzen's agreement templates; the BLiMP
  paradigms marked ``one_prefix_method``), and it ignores the words after it, so its intact
  accuracy can differ from ``rnnscope minimal-pairs``. Pairs it cannot score are skipped with
  their reason: triples (the NPI items), pairs differing in several words or in length,
  BLiMP paradigms whose ``one_prefix_method`` is false (e.g. "The woman cleans" / "The women
  cleans": the differing word is the subject, the error comes after it), and differing words
  missing from the vocabulary.
* **sentence** (:func:`sentence_sweep`): every sentence's total log-probability, exactly the
  rule of ``rnnscope minimal-pairs`` (the grammatical sentence must beat every other one),
  under each single-unit ablation run by :func:`rnnscope.interventions.run_stepwise`. Every
  item is kept, triples too, at the cost of the full softmax for every (unit, sentence) row.

Patching needs a *source* that differs from the *base* in the number of the agreement
controller only; the two sentences of one pair cannot serve: they share every word before the
one that differs, so the runs being patched are identical. :func:`number_twins` finds such
sources among the file's other items instead (the Marvin & Linzen ``sing_*`` / ``plur_*``
conditions of one template hold them), and :func:`twin_patch_sweep` patches from them.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from rnnscope.agreement.ablation import (SweepResult, mode_components, mode_sizes, sweep_table,
                                         units_to_sweep)
from rnnscope.agreement.batched import Encoded
from rnnscope.agreement.minimal_pairs import (MinimalPair, normalise_pair_case,
                                              sentence_log_probs, tokenize)
from rnnscope.agreement.patching import PatchResult, patch_pairs
from rnnscope.agreement.scoring import AgreementResult, accuracy_table
from rnnscope.agreement.tasks import NAItem
from rnnscope.errors import RnnscopeError
from rnnscope.interventions import Intervention, run_stepwise
from rnnscope.keys import global_unit
from rnnscope.model import RecurrentLM
from rnnscope.vocab import Vocabulary

SCORINGS = ("word", "sentence")
_SKIP_COLUMNS = ["task", "condition", "item_id", "source", "reason"]


@dataclass
class PairItems:
    """Minimal pairs as NA items: ``items`` (scorable at one word), ``skipped`` (one row per
    pair left out: task, condition, item_id, source, reason), ``n_pairs`` read, ``note`` (the
    case line)."""

    items: list[NAItem]
    skipped: pd.DataFrame
    n_pairs: int
    note: str = ""

    def summary(self) -> list[str]:
        """Lines for the user: how many pairs became items, and why the others did not."""
        lines = [f"minimal pairs: {len(self.items)} of {self.n_pairs} scored at the one word "
                 "where the two sentences differ"]
        if len(self.skipped):
            lines.append(f"skipped {len(self.skipped)} of {self.n_pairs} pairs (never scored):")
            lines += [f"  {k} x {reason}" for reason, k in
                      self.skipped["reason"].value_counts().items()]
        return lines


def _one_word_item(pair: MinimalPair, vocab: Vocabulary) -> NAItem | str:
    """The NA item of a pair differing in exactly one word, or the reason why there is none."""
    if len(pair.sentences) != 2:
        return "three sentences (grammatical, intrusive, ungrammatical): word scoring compares two"
    if pair.extra.get("one_prefix_method") is False:
        return "BLiMP paradigm not comparable at one word (one_prefix_method is false)"
    good, bad = (tokenize(s, vocab) for s in pair.sentences)
    if len(good) != len(bad):
        return "the sentences have different lengths"
    diff = [j for j, (a, b) in enumerate(zip(good, bad)) if a != b]
    if len(diff) != 1:
        return "the sentences are the same" if not diff else "the sentences differ in several words"
    j = diff[0]
    missing = [w for w in (good[j], bad[j]) if w not in vocab.stoi]
    if missing:
        return f"the differing word {missing[0]!r} is not in the vocabulary"
    return NAItem(pair.task, pair.condition, tuple(good[:j]), good[j], bad[j], pair.item_id,
                  source=pair.source, extra={"sentences": pair.sentences})


def agreement_items(pairs: Sequence[MinimalPair], vocab: Vocabulary,
                    case: str = "auto") -> PairItems:
    """The pairs that differ in exactly one word, as NA items (see the module docstring).

    ``case`` as in :func:`~rnnscope.agreement.minimal_pairs.score_pairs` (``"auto"``:
    lowercase the sentences when the vocabulary is lowercased).
    """
    if not pairs:
        raise RnnscopeError("no minimal pairs given")
    if vocab.kind != "word":
        raise RnnscopeError(f"word scoring compares two vocabulary words and needs a word-level "
                            f"model (this one is {vocab.kind}-level); use --scoring sentence")
    pairs, note = normalise_pair_case(pairs, vocab, case)
    items, skipped = [], []
    for p in pairs:
        got = _one_word_item(p, vocab)
        if isinstance(got, NAItem):
            items.append(got)
        else:
            skipped.append({"task": p.task, "condition": p.condition, "item_id": p.item_id,
                            "source": p.source, "reason": got})
    return PairItems(items, pd.DataFrame(skipped, columns=_SKIP_COLUMNS), len(pairs), note)


# -- patching -----------------------------------------------------------------------------------
def number_twins(items: Sequence[NAItem]) -> list[tuple[NAItem, NAItem]]:
    """``(base, source)`` pairs: each item with a twin whose forms are its own, swapped.

    A twin belongs to the same task, has the base's wrong form as its correct one (and vice
    versa) and a prefix of the same length differing in exactly one word: "the author" (laughs
    / laugh) and "the authors" (laugh / laughs). Swapped forms mean the agreeing number
    flipped, and one differing word says which word flipped it. When several items qualify
    ("the pilots" too), the twin is the one whose differing word shares the longest beginning
    with the base's (authors for author), then the first in the file. Items without a twin are
    left out.
    """
    index: dict[tuple, list[NAItem]] = {}
    for it in items:
        for j in range(len(it.prefix)):
            rest = it.prefix[:j] + it.prefix[j + 1:]
            index.setdefault((it.task, it.correct, it.wrong, j, rest), []).append(it)
    pairs = []
    for it in items:
        best, shared = None, -1
        for j, word in enumerate(it.prefix):
            rest = it.prefix[:j] + it.prefix[j + 1:]
            for cand in index.get((it.task, it.wrong, it.correct, j, rest), ()):
                common = len(os.path.commonprefix([word, cand.prefix[j]]))
                if cand.prefix[j] != word and common > shared:
                    best, shared = cand, common
        if best is not None:
            pairs.append((it, best))
    return pairs


def twin_patch_sweep(model: RecurrentLM, vocab: Vocabulary, items: Sequence[NAItem],
                     mode: str = "both", layers: Sequence[int] | None = None,
                     units: Sequence[int] | None = None, max_rows: int = 2048) -> PatchResult:
    """Patch each unit alone from every item's :func:`number_twins` twin (see
    :func:`~rnnscope.agreement.patching.patch_pairs`); a clear error when no item has one."""
    twins = number_twins(items)
    if not twins:
        raise RnnscopeError(
            "no minimal pair has a number twin to patch from: another item of its task with "
            "the two forms swapped and a prefix that differs in one word (as 'the author "
            "laughs / laugh' and 'the authors laugh / laughs'). Marvin & Linzen's agreement "
            "templates have them (their sing_* and plur_* conditions); BLiMP pairs, NPI items "
            "and files of one number do not")
    return patch_pairs(model, vocab, twins, mode=mode, layers=layers, units=units,
                       max_rows=max_rows)


# -- whole-sentence scoring ---------------------------------------------------------------------
@torch.no_grad()
def _ablated_log_probs(model: RecurrentLM, vocab: Vocabulary, tokens: list[list[str]],
                       sweep: list[tuple[int, int]], comps: tuple[str, ...],
                       max_elements: int, bar) -> np.ndarray:
    """Total log p ``[units, sentences]`` with each unit of ``sweep`` held at zero.

    One (unit, sentence) per row of :func:`run_stepwise`; sentences of one length share a
    batch, which holds at most ``max_elements`` scores ``[rows, T, V]``.
    """
    ids = [vocab.encode(t) for t in tokens]
    out = np.empty((len(sweep), len(ids)))
    device = next(model.parameters()).device
    V = model.config.vocab_size
    by_length: dict[int, list[int]] = {}
    for i, x in enumerate(ids):
        by_length.setdefault(len(x), []).append(i)
    for n_tok, group in by_length.items():
        T = n_tok + 1
        per_batch = max(1, max_elements // (T * V))
        for s0 in range(0, len(group), per_batch):
            part = group[s0:s0 + per_batch]
            inp = torch.tensor([[vocab.eos_id] + ids[i] for i in part], device=device)
            tgt = torch.tensor([ids[i] + [vocab.eos_id] for i in part], device=device)
            per_pass = max(1, max_elements // (T * V * len(part)))  # units per pass
            for a in range(0, len(sweep), per_pass):
                block = sweep[a:a + per_pass]
                rows = [[Intervention(n, c, [u]) for c in comps] for n, u in block for _ in part]
                logits, _ = run_stepwise(model, inp.repeat(len(block), 1), interventions=rows)
                logp = torch.log_softmax(logits.float(), dim=-1)
                picked = logp.gather(2, tgt.repeat(len(block), 1)[..., None])[..., 0].sum(1)
                out[a:a + len(block), part] = picked.view(len(block), len(part)).cpu().numpy()
                bar.update(len(block) * len(part))
    return out


def sentence_sweep(model: RecurrentLM, vocab: Vocabulary, pairs: Sequence[MinimalPair],
                   mode: str = "h", layers: Sequence[int] | None = None,
                   units: Sequence[int] | None = None, case: str = "auto",
                   max_elements: int = 2 ** 24, progress: bool = True) -> SweepResult:
    """Ablate each unit alone and score every pair by whole-sentence log-probability.

    An item is correct when its grammatical sentence has a higher total log p (every token and
    the final ``<eos>``) than each other sentence, as in
    :func:`~rnnscope.agreement.minimal_pairs.score_pairs`; ``diffs`` holds that margin
    (grammatical minus the best other sentence) per unit and item. Returns the
    :class:`~rnnscope.agreement.ablation.SweepResult` of the NA sweep (``report()``, ``plot()``,
    ``table`` with the accuracy drop per task and condition).
    """
    if not pairs:
        raise RnnscopeError("no minimal pairs given")
    comps = mode_components(model, mode)
    sweep = units_to_sweep(model, layers, units, comps[0])
    model = model.eval()
    pairs, _ = normalise_pair_case(pairs, vocab, case)
    distinct = list(dict.fromkeys(s for p in pairs for s in p.sentences))
    index = {s: i for i, s in enumerate(distinct)}
    tokens = [tokenize(s, vocab) for s in distinct]
    clean, _ = sentence_log_probs(model, vocab, tokens, max_elements)
    bar = tqdm(total=len(sweep) * len(tokens), disable=not progress, unit="sentence",
               desc=f"sentence ablation sweep ({mode})")
    ablated = _ablated_log_probs(model, vocab, tokens, sweep, comps, max_elements, bar)
    bar.close()
    good = np.array([index[p.sentences[0]] for p in pairs])
    others = [[index[s] for s in p.sentences[1:]] for p in pairs]
    second = np.array([o[0] for o in others])
    third = np.array([o[-1] for o in others])  # = second for pairs

    def margin(total: np.ndarray) -> np.ndarray:
        return total[..., good] - np.maximum(total[..., second], total[..., third])

    base, diffs = margin(clean), margin(ablated).astype(np.float32)
    # only task and condition of the items are read to build the accuracy tables
    enc = Encoded(list(pairs), [], [], pd.DataFrame(columns=_SKIP_COLUMNS),
                  list(dict.fromkeys((p.task, p.condition) for p in pairs)))
    items = pd.DataFrame({"task": [p.task for p in pairs],
                          "condition": [p.condition for p in pairs],
                          "item_id": [p.item_id for p in pairs],
                          "sentence_1": [p.sentences[0] for p in pairs],
                          "logp_margin": base, "is_correct": base > 0,
                          "source": [p.source for p in pairs]})
    table = accuracy_table(enc, base > 0)
    full = AgreementResult(items, table, enc.skipped)
    sizes = mode_sizes(model, comps)
    unit_df = pd.DataFrame([{"layer": n, "unit": u, "global_unit": global_unit(n, u, sizes)}
                            for n, u in sweep])
    return SweepResult(full, unit_df, diffs, sweep_table(enc, table, sweep, diffs, sizes), mode)
