"""An annotated corpus the project writes itself: agreement-grammar sentences in CoNLL-U.

The number-agreement generator (:mod:`rnnscope.agreement.tasks`) knows every word's role, so
the sentences it makes can carry gold annotation by construction: UPOS, ``Number`` (and
``Person`` on verbs), and a dependency tree (HEAD, DEPREL), from which the tree depth follows.
The demo uses it so that every section of its report (POS probes, concept neurons, depth,
agreement) has something to show, with no download.

>>> text = agreement_conllu(n=2, seed=0, tasks=("Simple",))
>>> text.splitlines()[2].split("\\t")[:4]
['1', 'the', 'the', 'DET']
"""
from __future__ import annotations

from collections.abc import Sequence

from rnnscope.agreement.tasks import NAItem, generate, load_wordpools

#: Tasks whose sentences have a simple, fully known tree.
DEMO_TASKS = ("Simple", "Adv", "2Adv", "NamePP", "NounPP", "NounPPAdv")

# slot label -> UPOS, and the slot it depends on with its relation ("verb" = the main verb)
_SLOTS = {
    "det": ("DET", "subj", "det"),
    "subj": ("NOUN", "verb", "nsubj"),
    "adv": ("ADV", "verb", "advmod"),
    "mod": ("ADV", "adv", "advmod"),
    "prep": ("ADP", None, "case"),        # head: the noun or name after it
    "det2": ("DET", "attr", "det"),
    "attr": ("NOUN", "subj", "nmod"),
    "name": ("PROPN", "subj", "nmod"),
}


def _number(word: str, pair_pools: Sequence[Sequence[str]]) -> str | None:
    for sing, plur in pair_pools:
        if word == sing:
            return "Sing"
        if word == plur:
            return "Plur"
    return None


def item_conllu(item: NAItem, pools: dict, sent_id: str, lowercase: bool = True) -> str:
    """One CoNLL-U sentence: the item's prefix, its correct verb, the object, a full stop."""
    labels = list(item.labels)
    words = list(item.prefix) + [item.correct] + pools["object"].split() + ["."]
    labels += ["verb", "odet", "obj", "punct"]
    index = {lab: i + 1 for i, lab in enumerate(labels)}
    nouns = list(pools["nouns"]) + list(pools["location_nouns"])
    rows = []
    for i, (word, lab) in enumerate(zip(words, labels), start=1):
        feats = "_"
        if lab == "verb":
            upos, head, rel = "VERB", 0, "root"
            num = "Sing" if item.subject_number == "singular" else "Plur"
            feats = f"Number={num}|Person=3" if num == "Sing" else f"Number={num}"
        elif lab == "odet":
            upos, head, rel = "DET", index["obj"], "det"
        elif lab == "obj":
            upos, head, rel, feats = "NOUN", index["verb"], "obj", "Number=Sing"
        elif lab == "punct":
            upos, head, rel = "PUNCT", index["verb"], "punct"
        else:
            upos, target, rel = _SLOTS[lab]
            if target is None:  # a preposition depends on the noun or name that follows it
                target = "attr" if "attr" in index else "name"
            head = index[target]
            if upos == "NOUN":
                num = _number(word, nouns)
                feats = f"Number={num}" if num else "_"
            elif upos == "PROPN":
                feats = "Number=Sing"
        form = word.lower() if lowercase else word
        rows.append("\t".join([str(i), form, form, upos, "_", feats, str(head), rel, "_", "_"]))
    text = " ".join(w.lower() if lowercase else w for w in words)
    return f"# sent_id = {sent_id}\n# text = {text}\n" + "\n".join(rows) + "\n"


def agreement_conllu(n: int = 20, seed: int = 0, tasks: Sequence[str] = DEMO_TASKS,
                     lowercase: bool = True) -> str:
    """``n`` generated sentences per task and condition as one CoNLL-U document.

    ``lowercase`` writes "the boy ..." (and lowercased names), as lowercased word LMs read
    text; the annotation is the same either way.
    """
    pools = load_wordpools()
    items = generate(list(tasks), n=n, seed=seed, capitalize=False)
    out = []
    for k, it in enumerate(items):
        out.append(item_conllu(it, pools, f"{it.task}-{it.condition}-{k}", lowercase))
    return "\n".join(out) + "\n"
