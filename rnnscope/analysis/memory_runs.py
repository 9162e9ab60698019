"""The state-gradient memory analyses of seed 003 end to end, as library functions.

What ``rnnscope gradients`` and ``rnnscope lda-probe`` run, callable from Python with the
same results: corpus -> input sequences and labels (:func:`memory_inputs`), word
frequencies for the per-word decay fits (:func:`frequencies`), a linguistic property as an
embedding difference vector (:func:`property_memory`, seed section 5) and the projection of
state gradients on the LDA counting subspace (:func:`lda_gradient_table`, seed Fig. 3).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rnnscope.analysis.gradients import corpus_sequences
from rnnscope.analysis.memory import class_words, difference_vector, memory, separability
from rnnscope.errors import RnnscopeError
from rnnscope.notebook import HtmlRepr


def memory_inputs(corpus, vocab, group_by: str | None = None, window: int | None = 200,
                  max_units: int | None = None, min_count: int = 1,
                  ) -> tuple[list[np.ndarray], list[list] | None]:
    """Sequences (and per-position labels) for :func:`~rnnscope.analysis.memory.memory`.

    ``window`` units per sequence (``None``/0: one per sentence); only the first ``max_units``
    units; with ``group_by="word"``, words seen fewer than ``min_count`` times get no group.
    """
    seqs, labels = corpus_sequences(corpus, vocab, group_by, window or None)
    if max_units:
        keep, total = [], 0
        for s in seqs:
            if total >= max_units:
                break
            keep.append(s[: max_units - total])
            total += len(keep[-1])
        labels = [lab[: len(s)] for lab, s in zip(labels, keep)] if labels is not None else None
        seqs = keep
    if group_by == "word" and min_count > 1:
        counts = Counter(w for lab in labels for w in lab)
        labels = [[w if counts[w] >= min_count else None for w in lab] for lab in labels]
    return seqs, labels


def frequencies(corpus, freq_from: str | None = None) -> dict[str, int]:
    """Word counts for the decay fits: of ``corpus``, or of the corpus file ``freq_from``;
    ``<eos>`` counted once per sentence."""
    from rnnscope.corpus.derived import word_frequencies

    if freq_from is None:
        counts = Counter(w for s in corpus for w in s.words)
        counts.setdefault("<eos>", len(corpus))
    else:
        counts = word_frequencies(freq_from)
        if "<eos>" not in counts:
            from rnnscope.corpus.readers import read_corpus

            counts["<eos>"] = len(read_corpus(freq_from))
    return dict(counts)


def parse_property(spec: str) -> tuple[str, set[str], set[str]]:
    """``"sg-pl=NN,NNP:NNS,NNPS"`` -> ``("sg-pl", {"NN", "NNP"}, {"NNS", "NNPS"})``."""
    try:
        name, rest = spec.split("=", 1)
        a_tags, b_tags = (set(x.split(",")) for x in rest.split(":", 1))
    except ValueError:
        raise RnnscopeError(f"bad property {spec!r}: expected NAME=TAG,TAG:TAG,TAG") from None
    return name, a_tags, b_tags


@dataclass
class PropertyMemory(HtmlRepr):
    """How well a property (class A vs class B words) is remembered over delays."""

    name: str
    separability: float   # cross-validated accuracy separating the two classes' embeddings
    n_a: int              # word types of each class
    n_b: int
    n_tokens: int         # tokens of either class the gradients are averaged over
    table: pd.DataFrame   # per delay: m (relative memory), cos1, cos5

    def _html_caption(self) -> str:
        return (f"{self.name}: {self.n_a} vs {self.n_b} word types, separability "
                f"{100 * self.separability:.1f}%, {self.n_tokens} tokens")


def property_memory(model, seqs, labels, name: str, a_tags: set, b_tags: set, state: str,
                    max_delay: int, basis: str = "normalised") -> PropertyMemory:
    """Seed 003 section 5: the property as the difference of the two classes' mean embeddings,
    its memory ``m`` and its cosine with the top-1/5 singular directions at every delay."""
    if labels is None:
        raise RnnscopeError("a property needs per-token tags (group by a tag column, xpos or upos)")
    if basis == "onehot":
        raise RnnscopeError("a property needs the normalised or raw basis")
    ids = np.concatenate(seqs)
    tags = [x for lab in labels for x in lab]
    W = model.encoder.weight.detach().cpu().double().numpy()
    a, b = class_words(ids, tags, a_tags), class_words(ids, tags, b_tags)
    acc = separability(W, a, b)
    both = a_tags | b_tags
    res = memory(model, seqs, state, max_delay,
                 [[name if x in both else None for x in lab] for lab in labels], basis=basis)
    table = res.property_memory(difference_vector(W, a, b, res.Z), name, n=(1, 5))
    table.insert(0, "separability", acc)
    return PropertyMemory(name, float(acc), len(a), len(b), int(res.counts[name][0]), table)


def lda_gradient_table(model, vocab, states: dict, labels: pd.DataFrame, lda, layer: int,
                       max_delay: int, k: int = 5, basis: str = "onehot") -> pd.DataFrame:
    """Seed 003 Fig. 3: per delay, the summed singular values of the state gradients of new
    tokens projected on the counting and the ID subspaces of ``lda``
    (:func:`~rnnscope.analysis.lda_probe.lda_table`), beside the LDA accuracy of the new token."""
    from rnnscope.analysis.lda_probe import delay_decoding

    comps = list(states)
    ids = np.asarray(vocab.encode(list(labels.token)))
    group = [[("new" if n == "1" else None) for n in labels.new]]
    res = memory(model, [ids], f"layer{layer}.{comps[0]}", max_delay, group, basis=basis)
    rows = []
    for part, B in (("counting", lda.counting_basis[:, :k]), ("ID", lda.counting_basis[:, k:])):
        t = res.project(B).table
        t["subspace"] = part
        rows.append(t)
    wide = pd.concat(rows, ignore_index=True).pivot_table(index="delay", columns=["group", "subspace"],
                                                          values="sigma_sum")
    for c in comps:
        wide[(f"LDA acc {c}", "")] = delay_decoding(states[c], labels, range(max_delay + 1)) \
            .set_index("delay")["accuracy"]
    return wide
