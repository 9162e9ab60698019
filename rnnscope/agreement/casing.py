"""Make agreement items' casing match the model's vocabulary.

The published files come both ways (Lakretz and Gulordava items are cased, "The boy ...";
the Linzen subset is lowercased), and so do models (PTB-style LMs are lowercased). A cased
item on a lowercased vocabulary turns every "The" into ``<unk>`` without a word. Here the
vocabulary's casing is detected once and the same normalisation is applied to every item,
generated or read, with one line saying what was done.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary

CASE_MODES = ("auto", "keep", "lower")


def vocab_is_lowercased(vocab: Vocabulary, tolerance: float = 0.01) -> bool:
    """True when (almost) no word of a word-level vocabulary has an upper-case letter.

    ``tolerance``: the share of cased entries still counted as lowercased (a lowercased corpus
    may keep a few symbols such as ``<unk>`` variants or ``N``). Character and byte vocabularies
    are never "lowercased" in this sense: they read text as it is.
    """
    if vocab.kind != "word":
        return False
    words = [w for w in vocab.itos if any(ch.isalpha() for ch in w) and not w.startswith("<")]
    if not words:
        return False
    cased = sum(1 for w in words if any(ch.isupper() for ch in w))
    return cased / len(words) <= tolerance


def _lower_item(item):
    return dataclasses.replace(item, prefix=tuple(w.lower() for w in item.prefix),
                               correct=item.correct.lower(), wrong=item.wrong.lower())


def normalise_case(items: Sequence, vocab: Vocabulary, mode: str = "auto") -> tuple[list, str]:
    """``(items, message)``: ``items`` lowercased where ``mode`` (or the vocabulary) says so.

    ``mode``: ``"keep"`` leaves items as they are; ``"lower"`` lowercases every word;
    ``"auto"`` lowercases when :func:`vocab_is_lowercased`. ``message`` is one line for the
    user (empty when there are no items).
    """
    if mode not in CASE_MODES:
        raise RnnscopeError(f"unknown --case {mode!r}; choose {', '.join(CASE_MODES)}")
    items = list(items)
    if not items:
        return items, ""
    lower = mode == "lower" or (mode == "auto" and vocab_is_lowercased(vocab))
    cased = sum(1 for it in items if any(any(ch.isupper() for ch in w)
                                         for w in (*it.prefix, it.correct, it.wrong)))
    if lower:
        why = "the vocabulary is lowercased" if mode == "auto" else "--case lower"
        note = f"case: lowercased {cased} of {len(items)} items ({why})"
        return [_lower_item(it) for it in items], note
    why = "the vocabulary is cased" if mode == "auto" else "--case keep"
    return items, f"case: items kept as written ({why}; {cased} of {len(items)} items have capitals)"
