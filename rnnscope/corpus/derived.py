"""Annotations computed from a corpus rather than read from it.

:func:`add_derived` gives every word its ``position`` in the sentence (0-based), the sentence
``length`` in words, its ``depth`` in the dependency tree (root = 0, from ``head``; None where
the sentence has no heads), and its ``frequency`` / ``log_frequency`` = log(1 + count) of the
exact word form in a reference corpus (a training corpus, typically; the corpus itself by
default). These are the usual "confound" variables of neuron analyses: a unit correlated with
a POS tag may just track position or frequency.
"""
from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import CorpusError, brief

DERIVED_COLUMNS = ("position", "length", "depth", "frequency", "log_frequency")


def add_derived(corpus: Corpus, frequency_from: Corpus | Mapping[str, int] | str | Path | None = None
                ) -> Corpus:
    """Add ``position``, ``length``, ``depth``, ``frequency``, ``log_frequency`` in place.

    ``frequency_from`` is a corpus, a word->count mapping, or a path read with
    :func:`word_frequencies`; None counts words in ``corpus`` itself. Returns ``corpus``.
    Raises :class:`~rnnscope.errors.CorpusError` where heads point outside the sentence or
    form a cycle.
    """
    if frequency_from is None:
        counts: Mapping[str, int] = word_frequencies(corpus)
    elif isinstance(frequency_from, Mapping):
        counts = frequency_from
    else:
        counts = word_frequencies(frequency_from)
    for index, sentence in enumerate(corpus):
        n = len(sentence.words)
        ann = sentence.annotations
        ann["position"] = list(range(n))
        ann["length"] = [n] * n
        heads = ann.get("head")
        ann["depth"] = (tree_depths(heads, where=_where(corpus, index, sentence))
                        if heads is not None else [None] * n)
        freq = [int(counts.get(w, 0)) for w in sentence.words]
        ann["frequency"] = freq
        ann["log_frequency"] = [math.log1p(f) for f in freq]
    return corpus


def tree_depths(heads: Sequence[int | None], where: str = "sentence") -> list[int | None]:
    """Depth of each word in a dependency tree given 1-based ``heads`` (0 = root, depth 0).

    Words whose head is None (unannotated) and words below them get None.

    >>> tree_depths([2, 0, 2, 3])
    [1, 0, 1, 2]
    """
    n = len(heads)
    for k, head in enumerate(heads):
        if head is not None and (not isinstance(head, int) or not 0 <= head <= n):
            raise CorpusError(f"{where}: word {k + 1} has head {head!r} outside 0..{n}")
    unset = object()
    depth: list = [unset] * n
    for start in range(n):
        path: list[int] = []
        k = start
        while depth[k] is unset:
            path.append(k)
            if len(path) > n:
                raise CorpusError(f"{where}: dependency heads form a cycle through word {k + 1}")
            head = heads[k]
            if head is None or head == 0:
                d = None if head is None else -1
                break
            k = head - 1
        else:
            d = depth[k]
        for j in reversed(path):
            d = None if d is None else d + 1
            depth[j] = d
    return depth


def word_frequencies(source: Corpus | Sequence[Sentence] | str | Path) -> Counter:
    """Counts of exact word forms in a corpus, or in a corpus file (text files are streamed)."""
    counts: Counter[str] = Counter()
    if isinstance(source, (str, Path)):
        from rnnscope.corpus.readers import not_utf8_error, open_text, read_corpus
        p = Path(source)
        if not p.exists():
            raise CorpusError(f"file not found: {p}")
        if p.name.lower().endswith((".conllu", ".conllu.gz", ".conll", ".conll.gz", ".zip")):
            source = read_corpus(p)
        else:
            try:
                with open_text(p) as handle:
                    for line in handle:
                        counts.update(line.split())
            except UnicodeDecodeError:
                raise not_utf8_error(p) from None
            except (OSError, EOFError, zlib.error) as exc:
                raise CorpusError(f"{p}: cannot read as UTF-8 text ({brief(exc)})") from None
            return counts
    for sentence in source:
        counts.update(sentence.words)
    return counts


def _where(corpus: Corpus, index: int, sentence: Sentence) -> str:
    sid = f" ({sentence.sent_id})" if sentence.sent_id else ""
    return f"{corpus.name}: sentence {index}{sid}"
