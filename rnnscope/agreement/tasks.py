"""Generator of the number-agreement (NA) tasks of Lakretz et al. (2019).

Seven tasks probe subject-verb agreement across increasingly hard material (singular shown):

=========== ===============================================
Simple      the boy greets
Adv         the boy probably greets
2Adv        the boy most probably greets
CoAdv       the boy openly and deliberately greets
NamePP      the boy near Pat greets
NounPP      the boy near the car greets
NounPPAdv   the boy near the car kindly greets
=========== ===============================================

plus two structures used for the syntax-unit figures: ``SubjRel`` (the boy that greets the
guard admires) and ``DoubleSubjRel`` (two intervening nouns and verbs: the boy that greets
the guard that watches the farmer admires).

Every task draws ``n`` lexical *frames* (a choice of lemmas) and realises each frame in every
*condition*: ``S``/``P`` (subject number) where nothing intervenes, ``SS SP PS PP`` (subject,
then intervening noun) where a noun intervenes (NamePP: ``SS``/``PS``, names are singular).
So item ``NounPP-17`` has the same words in all four conditions, only numbers differ.
An item is a *prefix* that ends right before the verb plus the correct and wrong verb forms.

Word pools are data (``rnnscope/data/wordpools/na_tasks.json``); pass your own file with the
same keys to :func:`load_wordpools`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from rnnscope.errors import RnnscopeError

#: The seven NA tasks of the paper, in the paper's order.
TASKS: tuple[str, ...] = ("Simple", "Adv", "2Adv", "CoAdv", "NamePP", "NounPP", "NounPPAdv")
#: Extra structures (relative clauses, two intervening nouns and verbs).
EXTRA_TASKS: tuple[str, ...] = ("SubjRel", "DoubleSubjRel")
ALL_TASKS = TASKS + EXTRA_TASKS

CONDITIONS: dict[str, tuple[str, ...]] = {
    "Simple": ("S", "P"), "Adv": ("S", "P"), "2Adv": ("S", "P"), "CoAdv": ("S", "P"),
    "NamePP": ("SS", "PS"),
    "NounPP": ("SS", "SP", "PS", "PP"), "NounPPAdv": ("SS", "SP", "PS", "PP"),
    "SubjRel": ("SS", "SP", "PS", "PP"), "DoubleSubjRel": ("SS", "SP", "PS", "PP"),
}
#: Conditions where the intervening noun's number differs from the subject's.
INCONGRUENT = frozenset({"SP", "PS"})

_POOL_KEYS = ("nouns", "verbs", "adverbs", "adverb_modifiers", "prepositions", "names",
              "location_nouns")


@dataclass(frozen=True)
class NAItem:
    """One agreement item: ``prefix`` (words before the verb), the two verb forms.

    ``condition`` is ``S``/``P``/``SS``/``SP``/``PS``/``PP`` for the NA tasks; loaders of
    other formats use their own labels (e.g. the number of attractors). ``labels`` names each
    prefix word's slot (``det``, ``subj``, ``prep`` ...); ``source`` is ``file:line`` for
    items read from a file.
    """

    task: str
    condition: str
    prefix: tuple[str, ...]
    correct: str
    wrong: str
    item_id: str
    labels: tuple[str, ...] = ()
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def incongruent(self) -> bool:
        return self.condition in INCONGRUENT

    @property
    def subject_number(self) -> str | None:
        """``"singular"``/``"plural"`` for NA-task conditions, else ``None``."""
        first = self.condition[:1]
        if self.condition in {"S", "P", "SS", "SP", "PS", "PP"}:
            return "singular" if first == "S" else "plural"
        return None


def load_wordpools(path: str | Path | None = None) -> dict:
    """The NA word pools: the shipped JSON, or ``path`` (a JSON file with the same keys)."""
    if path is None:
        text = resources.files("rnnscope").joinpath("data/wordpools/na_tasks.json").read_text()
        source = "na_tasks.json (shipped)"
    else:
        p = Path(path)
        if not p.is_file():
            raise RnnscopeError(f"word-pool file not found: {p}")
        text, source = p.read_text(encoding="utf-8"), str(p)
    try:
        pools = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RnnscopeError(f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    missing = [k for k in _POOL_KEYS if not pools.get(k)]
    if missing:
        raise RnnscopeError(f"{source}: word pool {missing[0]!r} is missing or empty")
    for k in ("nouns", "verbs", "location_nouns"):
        bad = [e for e in pools[k] if not (isinstance(e, list) and len(e) == 2)]
        if bad:
            raise RnnscopeError(f"{source}: {k} entries must be [singular, plural] pairs, got {bad[0]!r}")
    if len(pools["adverbs"]) < 2:
        raise RnnscopeError(f"{source}: CoAdv needs at least two adverbs")
    pools.setdefault("object", "the guy")
    return pools


def _num(code: str) -> int:
    return 0 if code == "S" else 1


def _realise(task: str, frame: dict, cond: str, pools: dict) -> tuple[list[str], list[str], str, str]:
    """Words, slot labels, correct and wrong verb of ``frame`` in condition ``cond``."""
    s = _num(cond[0])
    a = _num(cond[1]) if len(cond) > 1 else s
    noun = pools["nouns"][frame["noun"]][s]
    verb = pools["verbs"][frame["verb"]]
    words, labels = ["the", noun], ["det", "subj"]
    if task == "Adv":
        words += [pools["adverbs"][frame["adv"]]]; labels += ["adv"]
    elif task == "2Adv":
        words += [pools["adverb_modifiers"][frame["mod"]], pools["adverbs"][frame["adv"]]]
        labels += ["mod", "adv"]
    elif task == "CoAdv":
        words += [pools["adverbs"][frame["adv"]], "and", pools["adverbs"][frame["adv2"]]]
        labels += ["adv", "and", "adv2"]
    elif task == "NamePP":
        words += [pools["prepositions"][frame["prep"]], pools["names"][frame["name"]]]
        labels += ["prep", "name"]
    elif task in ("NounPP", "NounPPAdv"):
        words += [pools["prepositions"][frame["prep"]], "the", pools["location_nouns"][frame["loc"]][a]]
        labels += ["prep", "det2", "attr"]
        if task == "NounPPAdv":
            words += [pools["adverbs"][frame["adv"]]]; labels += ["adv"]
    elif task == "SubjRel":
        words += ["that", pools["verbs"][frame["rcverb"]][s], "the", pools["nouns"][frame["noun2"]][a]]
        labels += ["that", "rcverb", "det2", "attr"]
    elif task == "DoubleSubjRel":
        words += ["that", pools["verbs"][frame["rcverb"]][s], "the", pools["nouns"][frame["noun2"]][a],
                  "that", pools["verbs"][frame["rcverb2"]][a], "the", pools["nouns"][frame["noun3"]][a]]
        labels += ["that", "rcverb", "det2", "attr", "that2", "rcverb2", "det3", "attr2"]
    return words, labels, verb[s], verb[1 - s]


def _frame_space(task: str, pools: dict) -> dict[str, int]:
    """Which lemma slots a task fills, and the pool size of each."""
    n = {k: len(pools[k]) for k in _POOL_KEYS}
    space = {"noun": n["nouns"], "verb": n["verbs"]}
    extra = {
        "Adv": {"adv": n["adverbs"]},
        "2Adv": {"mod": n["adverb_modifiers"], "adv": n["adverbs"]},
        "CoAdv": {"adv": n["adverbs"], "adv2": n["adverbs"]},
        "NamePP": {"prep": n["prepositions"], "name": n["names"]},
        "NounPP": {"prep": n["prepositions"], "loc": n["location_nouns"]},
        "NounPPAdv": {"prep": n["prepositions"], "loc": n["location_nouns"], "adv": n["adverbs"]},
        "SubjRel": {"rcverb": n["verbs"], "noun2": n["nouns"]},
        "DoubleSubjRel": {"rcverb": n["verbs"], "noun2": n["nouns"], "rcverb2": n["verbs"],
                          "noun3": n["nouns"]},
    }
    space.update(extra.get(task, {}))
    return space


def _valid(frame: dict) -> bool:
    """No word repeated where the structure would read oddly (same adverb twice, ...)."""
    if frame.get("adv") is not None and frame.get("adv") == frame.get("adv2"):
        return False
    nouns = [frame[k] for k in ("noun", "noun2", "noun3") if k in frame]
    verbs = [frame[k] for k in ("verb", "rcverb", "rcverb2") if k in frame]
    return len(set(nouns)) == len(nouns) and len(set(verbs)) == len(verbs)


def _frames(task: str, n: int, pools: dict, rng: np.random.Generator) -> list[dict]:
    """``n`` frames, distinct while the task's combinations allow, then repeated."""
    space = _frame_space(task, pools)
    frames, seen = [], set()
    attempts = 0
    while len(frames) < n:
        frame = {k: int(rng.integers(size)) for k, size in space.items()}
        attempts += 1
        if not _valid(frame):
            if attempts > 1000 * n:
                raise RnnscopeError(f"{task}: the word pools are too small for a valid sentence")
            continue
        sig = tuple(sorted(frame.items()))
        if sig in seen and attempts < 50 * n:
            continue  # prefer distinct frames; small tasks (Simple: 20 x 15) repeat some
        seen.add(sig)
        frames.append(frame)
    return frames


def canonical_task(name: str) -> str:
    """The task's canonical spelling (case-insensitive match), or an error listing the tasks."""
    lookup = {t.lower(): t for t in ALL_TASKS}
    try:
        return lookup[name.strip().lower()]
    except KeyError:
        raise RnnscopeError(f"unknown NA task {name!r}; choose from {', '.join(ALL_TASKS)}") from None


def generate(tasks: list[str] | tuple[str, ...] | None = None, n: int = 600, seed: int = 0,
             pools: dict | None = None, capitalize: bool = True) -> list[NAItem]:
    """``n`` items per condition of each task (default: the seven NA tasks), seeded.

    ``capitalize`` writes the first word as ``The`` (models trained on cased text such as
    WikiText see sentence-initial capitals). Items of one frame share ``item_id`` across
    conditions.
    """
    if n < 1:
        raise RnnscopeError(f"n must be at least 1 sentence per condition, got {n}")
    pools = pools if pools is not None else load_wordpools()
    names = [canonical_task(t) for t in (tasks or TASKS)]
    rng = np.random.default_rng(seed)
    items: list[NAItem] = []
    for task in names:
        for i, frame in enumerate(_frames(task, n, pools, rng)):
            for cond in CONDITIONS[task]:
                words, labels, correct, wrong = _realise(task, frame, cond, pools)
                if capitalize:
                    words[0] = words[0].capitalize()
                items.append(NAItem(task, cond, tuple(words), correct, wrong,
                                    f"{task}-{i}", tuple(labels)))
    return items


def verb_pairs(pools: dict | None = None) -> list[tuple[str, str]]:
    """``(singular, plural)`` forms of every verb of the pools (for efferent-weight plots)."""
    pools = pools if pools is not None else load_wordpools()
    return [(s, p) for s, p in pools["verbs"]]
