"""Whole-sentence minimal pairs: does the model give the grammatical sentence more probability?

An item is two or three full sentences, the grammatical one first. Each sentence is scored by
its total log-probability (``mean=True``: per token) and the item is correct when the
grammatical sentence scores strictly higher than every other one (ties count as wrong, as in
:mod:`~rnnscope.agreement.scoring`). Accuracy is reported per task (Marvin & Linzen template,
BLiMP paradigm) and condition.

**What is scored.** Every sentence is fed as ``[<eos>] + tokens`` from a zero state (``<eos>``
stands for the beginning of a sentence, as everywhere in rnnscope) and ``log p`` is summed over
every token *and a final* ``<eos>``: ending the sentence is part of what the model predicts,
so "the author laughs" and "the author laugh" also differ in how likely they are to stop
there. The mean divides the total by the number of predicted tokens (words + the ``<eos>``).

**Tokens.** A sentence is split on whitespace; final punctuation (``greets.``) becomes its own
token only if the vocabulary has it (``.``), and is dropped otherwise (PTB-style models have
none). Words are lowercased when the vocabulary is lowercased (``case="auto"``, the rule of
:mod:`~rnnscope.agreement.casing`). Character and byte models read the sentence as text.
Unknown words become ``<unk>``; their share is part of the result (:attr:`MinimalPairResult.unk_share`).

**Formats** (both read from ``.gz`` files transparently):

* Marvin & Linzen (2018) targeted evaluation, as JSON ``{template: {condition: [[grammatical,
  ungrammatical(, third)], ...]}}``: 22 templates (:data:`MARVIN_LINZEN_TEMPLATES`: simple
  agreement, agreement across prepositional phrases and relative clauses, in sentential
  complements, VP coordination, reflexives, negative polarity items). NPI items are triples
  (grammatical, intrusive licensor, ungrammatical); the result then also gives the accuracy
  against each of the two others (``vs_2``, ``vs_3``). A template may also map straight to
  a list of items (condition ``""``).
* BLiMP (Warstadt et al. 2020) JSON lines with ``sentence_good``, ``sentence_bad``, ``UID``
  (the paradigm: the task), ``field`` and ``linguistics_term`` (the condition); a directory
  is read file by file (``*.jsonl``, ``*.jsonl.gz``).

:func:`read_pairs` picks the reader from the file name. Ablation and patching on these items:
:mod:`rnnscope.agreement.pair_sweeps`.

>>> # pairs = read_blimp("blimp/data"); res = score_pairs(model, vocab, pairs); print(res.table)
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rnnscope.agreement.casing import CASE_MODES, vocab_is_lowercased
from rnnscope.agreement.formats import read_text, text_lines
from rnnscope.errors import RnnscopeError
from rnnscope.model import RecurrentLM
from rnnscope.vocab import Vocabulary
from rnnscope.notebook import HtmlRepr

#: The 22 templates of Marvin & Linzen (2018) (``LM_syneval/data/templates``).
MARVIN_LINZEN_TEMPLATES: tuple[str, ...] = (
    "simple_agrmt", "prep_anim", "prep_inanim", "subj_rel", "sent_comp", "vp_coord",
    "long_vp_coord", "obj_rel_across_anim", "obj_rel_across_inanim", "obj_rel_no_comp_across_anim",
    "obj_rel_no_comp_across_inanim", "obj_rel_within_anim", "obj_rel_within_inanim",
    "obj_rel_no_comp_within_anim", "obj_rel_no_comp_within_inanim", "simple_reflexives",
    "reflexive_sent_comp", "reflexives_across", "simple_npi_anim", "simple_npi_inanim",
    "npi_across_anim", "npi_across_inanim",
)
FINAL_PUNCT = ".,!?;:"


@dataclass(frozen=True)
class MinimalPair:
    """Two or three sentences, the grammatical one first; ``source`` is ``file:line``."""

    task: str
    condition: str
    sentences: tuple[str, ...]
    item_id: str
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)


# -- readers ----------------------------------------------------------------------------------
def _line_of(text: str, sentence: str, default: int = 1) -> int:
    """1-based line of ``sentence``'s JSON string in ``text`` (``default`` when not found)."""
    for enc in (json.dumps(sentence), json.dumps(sentence, ensure_ascii=False)):
        pos = text.find(enc)
        if pos >= 0:
            return text.count("\n", 0, pos) + 1
    return default


def read_marvin_linzen(path: str | Path) -> list[MinimalPair]:
    """Items of Marvin & Linzen templates as JSON (see the module docstring)."""
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RnnscopeError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # a number too long, nesting too deep
        raise RnnscopeError(f"{path}: not usable JSON ({_first_line(exc)})") from None
    if not isinstance(data, dict) or not data:
        raise RnnscopeError(f"{path}:1: expected an object {{template: {{condition: [[grammatical, "
                            "ungrammatical], ...]}}}}")
    items: list[MinimalPair] = []
    for template, conditions in data.items():
        tline = _line_of(text, template)
        if isinstance(conditions, list):
            conditions = {"": conditions}
        if not isinstance(conditions, dict):
            raise RnnscopeError(f"{path}:{tline}: template {template!r} must map conditions to "
                                "lists of items")
        for condition, entries in conditions.items():
            if not isinstance(entries, list):
                raise RnnscopeError(f"{path}:{_line_of(text, condition, tline)}: {template} "
                                    f"{condition!r} must be a list of items")
            for k, entry in enumerate(entries):
                first = entry[0] if isinstance(entry, list) and entry and isinstance(entry[0], str) else ""
                where = f"{path}:{_line_of(text, first, tline) if first else tline}"
                if not (isinstance(entry, list) and len(entry) in (2, 3)
                        and all(isinstance(s, str) and s.strip() for s in entry)):
                    raise RnnscopeError(f"{where}: {template} {condition!r} item {k} must be "
                                        "[grammatical, ungrammatical] or a triple of non-empty "
                                        f"sentences, got {entry!r:.80}")
                items.append(MinimalPair(template, condition, tuple(entry),
                                         f"{template}/{condition}/{k}", where))
    if not items:
        raise RnnscopeError(f"{path}: no items")
    return items


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]


def _blimp_files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir()
                   if p.is_file() and (p.name.endswith(".jsonl") or p.name.endswith(".jsonl.gz")))
    if not files:
        raise RnnscopeError(f"{path}: no .jsonl or .jsonl.gz files in the directory")
    return files


def read_blimp(path: str | Path) -> list[MinimalPair]:
    """Items of BLiMP JSON-lines files (a file, or a directory of them)."""
    items: list[MinimalPair] = []
    for file in _blimp_files(Path(path)):
        for n, line in enumerate(text_lines(read_text(file)), start=1):
            if not line.strip():
                continue
            where = f"{file}:{n}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RnnscopeError(f"{where}: not valid JSON ({exc.msg})") from None
            except (ValueError, RecursionError) as exc:  # a number too long, nesting too deep
                raise RnnscopeError(f"{where}: not usable JSON ({_first_line(exc)})") from None
            if not isinstance(rec, dict):
                raise RnnscopeError(f"{where}: expected a JSON object per line")
            missing = [k for k in ("sentence_good", "sentence_bad", "UID") if not rec.get(k)]
            if missing:
                raise RnnscopeError(f"{where}: missing {missing[0]!r}")
            good, bad = rec["sentence_good"], rec["sentence_bad"]
            if not (isinstance(good, str) and isinstance(bad, str)):
                raise RnnscopeError(f"{where}: sentence_good and sentence_bad must be strings")
            items.append(MinimalPair(str(rec["UID"]), str(rec.get("linguistics_term", "")),
                                     (good, bad), str(rec.get("pairID", n)), where,
                                     extra={"field": str(rec.get("field", "")),
                                            "one_prefix_method": rec.get("one_prefix_method")}))
    if not items:
        raise RnnscopeError(f"{path}: no items")
    return items


#: ``--format`` of files read by :func:`read_pairs`
PAIR_FORMATS = ("auto", "marvin-linzen", "blimp")


def read_pairs(path: str | Path, fmt: str = "auto") -> list[MinimalPair]:
    """Items of a Marvin & Linzen or BLiMP file; ``fmt="auto"`` tells them by name.

    Auto: a directory or a ``.jsonl``/``.jsonl.gz`` file is BLiMP, a ``.json``/``.json.gz``
    file Marvin & Linzen; any other name needs ``fmt``.
    """
    if fmt not in PAIR_FORMATS:
        raise RnnscopeError(f"unknown minimal-pair format {fmt!r}; choose "
                            f"{', '.join(PAIR_FORMATS)}")
    p = Path(path)
    if fmt == "auto":
        name = p.name.lower().removesuffix(".gz")
        if p.is_dir() or name.endswith(".jsonl"):
            fmt = "blimp"
        elif name.endswith(".json"):
            fmt = "marvin-linzen"
        else:
            raise RnnscopeError(f"{p}: cannot tell the format from the name; give --format "
                                "marvin-linzen or --format blimp")
    return read_blimp(p) if fmt == "blimp" else read_marvin_linzen(p)


def normalise_pair_case(pairs: Sequence[MinimalPair], vocab: Vocabulary, case: str = "auto"
                        ) -> tuple[list[MinimalPair], str]:
    """``(pairs, note)``: the sentences lowercased where ``case`` (or the vocabulary) says so,
    the rule of :func:`score_pairs`; ``note`` is one line for the user."""
    lower, note = _case_rule(vocab, case)
    pairs = list(pairs)
    if lower:
        pairs = [replace(p, sentences=tuple(x.lower() for x in p.sentences)) for p in pairs]
    return pairs, note


def _case_rule(vocab: Vocabulary, case: str) -> tuple[bool, str]:
    """Whether to lowercase the sentences for ``case`` on ``vocab``, and the line saying so."""
    if case not in CASE_MODES:
        raise RnnscopeError(f"unknown --case {case!r}; choose {', '.join(CASE_MODES)}")
    lower = case == "lower" or (case == "auto" and vocab_is_lowercased(vocab))
    if lower:
        why = "the vocabulary is lowercased" if case == "auto" else "--case lower"
        return True, f"case: sentences lowercased ({why})"
    why = "the vocabulary is cased" if case == "auto" else "--case keep"
    return False, f"case: sentences kept as written ({why})"


# -- scoring ------------------------------------------------------------------------------------
def tokenize(sentence: str, vocab: Vocabulary, lower: bool = False) -> list[str]:
    """The units the model reads for ``sentence`` (see the module docstring)."""
    text = sentence.lower() if lower else sentence
    if vocab.kind != "word":
        return vocab.units(" ".join(text.split()))
    words = text.split()
    if words and words[-1] not in vocab.stoi:
        last = words.pop()
        core = last.rstrip(FINAL_PUNCT)
        punct = last[len(core):]
        words += [core] if core else []
        words += [punct] if punct and punct in vocab.stoi else []
    return words


def sentence_log_probs(model: RecurrentLM, vocab: Vocabulary, sentences: Sequence[Sequence[str]],
                       max_elements: int = 2 ** 24) -> tuple[np.ndarray, np.ndarray]:
    """``(total log p, predicted tokens)`` per sentence (tokens + the final ``<eos>``).

    Sentences are fed as ``[<eos>] + ids`` from a zero state, sorted by length and batched
    with right padding (the recurrence only looks back, so padding never changes a score);
    a batch holds at most ``max_elements`` scores ``[rows, T, V]``.
    """
    ids = [vocab.encode(s) for s in sentences]
    total = np.zeros(len(ids))
    counts = np.array([len(x) + 1 for x in ids])
    order = np.argsort(counts, kind="stable")
    device = next(model.parameters()).device
    V = len(vocab)
    model = model.eval()
    start = 0
    with torch.no_grad():
        while start < len(order):
            rows = 1
            while (start + rows < len(order)
                   and (rows + 1) * int(counts[order[start + rows]]) * V <= max_elements):
                rows += 1
            part = order[start: start + rows]
            T = int(counts[part].max())
            inp = torch.full((len(part), T), vocab.eos_id, dtype=torch.long)
            tgt = torch.full((len(part), T), -1, dtype=torch.long)
            for r, i in enumerate(part):
                seq = ids[i]
                inp[r, 1: len(seq) + 1] = torch.tensor(seq, dtype=torch.long)
                tgt[r, : len(seq) + 1] = torch.tensor(seq + [vocab.eos_id], dtype=torch.long)
            scores, _ = model(inp.to(device))
            logp = torch.log_softmax(scores.float(), dim=-1)
            tgt = tgt.to(device)
            picked = logp.gather(2, tgt.clamp(min=0)[..., None])[..., 0]
            total[part] = (picked * (tgt >= 0)).sum(1).cpu().double().numpy()
            start += rows
    return total, counts


@dataclass
class MinimalPairResult(HtmlRepr):
    """Per-item scores (``items``), accuracy per task and condition (``table``), unknown words.

    ``items``: ``task, condition, item_id, source, n_sentences, logp_k, tokens_k, score_k``
    (k = 1 grammatical, 2, 3), ``correct`` (sentence 1 beats every other), ``vs_2``/``vs_3``.
    ``table``: ``task, condition, n, accuracy, vs_2, vs_3`` (0-1; ``vs_3`` NaN for pairs).
    """

    items: pd.DataFrame
    table: pd.DataFrame
    n_tokens: int
    unknown: Counter
    mean: bool = False
    case_note: str = ""

    @property
    def unk_share(self) -> float:
        """Share of the scored word tokens (each distinct sentence once) that were ``<unk>``."""
        return sum(self.unknown.values()) / self.n_tokens if self.n_tokens else 0.0

    def overall(self) -> pd.DataFrame:
        """Accuracy per task (all its conditions) and over all items (task ``all``)."""
        it = self.items
        rows = [{"task": t, "n": len(g), "accuracy": g["correct"].mean()}
                for t, g in it.groupby("task", sort=False)]
        rows.append({"task": "all", "n": len(it), "accuracy": it["correct"].mean()})
        return pd.DataFrame(rows)


def score_pairs(model: RecurrentLM, vocab: Vocabulary, pairs: Sequence[MinimalPair],
                mean: bool = False, case: str = "auto", max_elements: int = 2 ** 24
                ) -> MinimalPairResult:
    """Score every sentence of ``pairs`` once (batched) and compare within each item."""
    if not pairs:
        raise RnnscopeError("no minimal pairs given")
    lower, note = _case_rule(vocab, case)
    distinct = list(dict.fromkeys(s for p in pairs for s in p.sentences))
    index = {s: i for i, s in enumerate(distinct)}
    tokens = [tokenize(s, vocab, lower) for s in distinct]
    total, counts = sentence_log_probs(model, vocab, tokens, max_elements)
    score = total / counts if mean else total
    unknown = Counter(w for t in tokens for w in t if w not in vocab.stoi)
    n_tok = sum(len(t) for t in tokens)
    rows = []
    for p in pairs:
        k = [index[s] for s in p.sentences]
        row = {"task": p.task, "condition": p.condition, "item_id": p.item_id, "source": p.source,
               "n_sentences": len(k)}
        for j, i in enumerate(k, start=1):
            row.update({f"sentence_{j}": p.sentences[j - 1], f"logp_{j}": total[i],
                        f"tokens_{j}": int(counts[i]), f"score_{j}": score[i]})
        beats = [bool(score[k[0]] > score[i]) for i in k[1:]]
        row.update({"correct": all(beats), "vs_2": beats[0],
                    "vs_3": float(beats[1]) if len(beats) > 1 else np.nan,
                    "n_unk": sum(w not in vocab.stoi for i in k for w in tokens[i])})
        rows.append(row)
    items = pd.DataFrame(rows)
    groups = items.groupby(["task", "condition"], sort=False)
    table = pd.DataFrame([{"task": t, "condition": c, "n": len(g), "accuracy": g["correct"].mean(),
                           "vs_2": g["vs_2"].astype(float).mean(),
                           "vs_3": g["vs_3"].mean()}
                          for (t, c), g in groups])
    return MinimalPairResult(items, table, n_tok, unknown, mean, note)
