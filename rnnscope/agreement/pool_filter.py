"""Word pools fitted to a model's training text: drop rare and part-of-speech-ambiguous forms.

The NA generator's shipped pools were chosen so that every form occurs in WikiText-2. For a
given model that is not enough to make the items fair: a verb whose singular form occurs 6
times in the training text ("avoids") or whose base form is mostly a noun or a preposition
("like", "love", "attack") is scored as much on the model's lexical statistics as on
agreement (``rnnscope agreement --by-verb`` shows it). :func:`filter_pools` keeps the pairs
whose forms each occur at least ``min_count`` times in the training text and, given a
POS-tagged treebank, the verb pairs whose forms are each tagged VERB/AUX in at least
``min_verb_share`` of their treebank occurrences. The criterion reads only corpus
statistics, never the model's scores, so it can be fixed before any model is evaluated.

>>> # pools, report = filter_pools(load_wordpools(), text_counts(["train.txt"]),
>>> #                              min_count=20, tags=treebank_tags(["ud.conllu"], forms))
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from rnnscope.corpus.readers import open_text, read_conllu
from rnnscope.errors import RnnscopeError

#: Pools of [singular, plural] pairs that are filtered; the others are kept as they are.
PAIR_POOLS = ("verbs", "nouns", "location_nouns")
#: Fewest pairs a filtered pool may keep (the generator draws frames from each pool).
MIN_PAIRS = 2
_VERB_TAGS = ("VERB", "AUX")


def text_counts(paths: Sequence[str | Path], lowercase: bool = False) -> Counter:
    """Word counts over plain-text files (whitespace tokens) or CoNLL-U files (their words);
    ``.gz`` is read transparently."""
    counts: Counter = Counter()
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise RnnscopeError(f"corpus not found: {p}")
        if ".conllu" in p.name.lower():
            for sent in read_conllu(p):
                counts.update(w.lower() if lowercase else w for w in sent.words)
            continue
        with open_text(p) as f:
            for line in f:
                counts.update((line.lower() if lowercase else line).split())
    if not counts:
        raise RnnscopeError(f"no words in {', '.join(map(str, paths))}")
    return counts


def treebank_tags(paths: Sequence[str | Path], forms: Iterable[str],
                  lowercase: bool = True) -> dict[str, Counter]:
    """UPOS counts of each of ``forms`` in CoNLL-U treebanks (matched lowercased by default)."""
    wanted = {f.lower() if lowercase else f for f in forms}
    tags: dict[str, Counter] = defaultdict(Counter)
    for path in paths:
        for sent in read_conllu(path):
            for word, upos in zip(sent.words, sent.annotations.get("upos") or []):
                key = word.lower() if lowercase else word
                if key in wanted:
                    tags[key][upos] += 1
    return dict(tags)


def filter_pools(pools: dict, counts: Counter, min_count: int = 20,
                 tags: dict[str, Counter] | None = None, min_verb_share: float = 0.9,
                 min_tagged: int = 3, lowercase: bool = False) -> tuple[dict, pd.DataFrame]:
    """The pools with only the pairs that pass; and a report of every pair (kept or why not).

    ``counts``: training-text counts (:func:`text_counts`); ``lowercase``: look forms up
    lowercased (for a lowercased corpus). ``tags``: treebank UPOS counts per lowercased form
    (:func:`treebank_tags`); a verb form tagged fewer than ``min_tagged`` times there is not
    judged on its part of speech. Raises when a pool would keep fewer than ``MIN_PAIRS``.
    """
    if min_count < 1:
        raise RnnscopeError(f"min_count must be at least 1, got {min_count}")
    if not 0 <= min_verb_share <= 1:
        raise RnnscopeError(f"min_verb_share must be between 0 and 1, got {min_verb_share}")
    rows, kept = [], {}
    for pool in PAIR_POOLS:
        kept[pool] = []
        for pair in pools[pool]:
            n = [counts.get(w.lower() if lowercase else w, 0) for w in pair]
            share = [_verb_share(tags, w, min_tagged) if pool == "verbs" and tags is not None
                     else None for w in pair]
            why = []
            if min(n) < min_count:
                why.append(f"{pair[n.index(min(n))]!r} occurs {min(n)} times (< {min_count})")
            for w, s in zip(pair, share):
                if s is not None and s < min_verb_share:
                    why.append(f"{w!r} is a verb in {100 * s:.0f}% of its treebank uses "
                               f"(< {100 * min_verb_share:.0f}%)")
            rows.append({"pool": pool, "singular": pair[0], "plural": pair[1],
                         "count_singular": n[0], "count_plural": n[1],
                         "verb_share_singular": share[0], "verb_share_plural": share[1],
                         "kept": not why, "reason": "; ".join(why)})
            if not why:
                kept[pool].append(list(pair))
        if len(kept[pool]) < MIN_PAIRS:
            raise RnnscopeError(f"only {len(kept[pool])} of the {len(pools[pool])} {pool} pairs "
                                f"pass (need {MIN_PAIRS}); lower --min-count or --min-verb-share")
    out = {k: v for k, v in pools.items() if k not in PAIR_POOLS and k != "_about"}
    out.update(kept)
    return out, pd.DataFrame(rows)


def _verb_share(tags: dict[str, Counter], word: str, min_tagged: int) -> float | None:
    c = tags.get(word.lower(), Counter())
    total = sum(c.values())
    return None if total < min_tagged else sum(c[t] for t in _VERB_TAGS) / total


def write_pools(pools: dict, path: str | Path, about: str) -> Path:
    """Write ``pools`` as a word-pool JSON file (``--wordpools``) with ``about`` as its note."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"_about": about, **pools}, indent=1) + "\n", encoding="utf-8")
    return p
