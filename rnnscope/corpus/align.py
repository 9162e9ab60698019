"""Align a sentence's words with the units a model reads (words, characters or bytes).

Word-level annotations live on words, but a char or byte model reads characters or bytes. This
module builds, for each sentence, the unit strings, their vocabulary ids, the word each unit
belongs to (``-1`` for the separators between words) and the index of the last unit of every
word, so that analyses can read a word's state where the model has just finished reading it.

The surface text of a sentence is its words joined by one space, except after a word whose
``space_after`` flag is ``False`` (CoNLL-U ``SpaceAfter=No``). No ``<eos>``/BOS unit is added
here: the extractor decides about sentence boundaries.

>>> from rnnscope.vocab import Vocabulary
>>> from rnnscope.corpus.types import Sentence
>>> a = align_sentence(Sentence(["Hi", "!"], space_after=[False, True]), 0, Vocabulary.bytes())
>>> a.units, a.word_of_unit, a.last_unit_of_word
(['H', 'i', '!'], [0, 0, 1], [1, 2])
"""
from __future__ import annotations

from collections.abc import Iterable

from rnnscope.corpus.types import AlignedSentence, Corpus, Sentence
from rnnscope.errors import CorpusError
from rnnscope.vocab import Vocabulary

SEPARATOR = " "


def surface_text(sentence: Sentence) -> str:
    """The sentence as running text: words joined by spaces, honouring ``space_after``."""
    parts: list[str] = []
    n = len(sentence.words)
    for k, word in enumerate(sentence.words):
        parts.append(word)
        if k < n - 1 and _space_after(sentence, k):
            parts.append(SEPARATOR)
    return "".join(parts)


def align_sentence(sentence: Sentence, index: int, vocab: Vocabulary) -> AlignedSentence:
    """Map ``sentence`` (number ``index`` in its corpus) onto ``vocab``'s units.

    Word vocabularies give one unit per word (unknown words get ``<unk>``'s id). Char and byte
    vocabularies give every character (or UTF-8 byte) of every word, mapped to that word, and one
    separator unit between words (mapped to ``-1``) unless ``space_after`` says otherwise.
    """
    words = sentence.words
    if vocab.kind == "word":
        units = list(words)
        return AlignedSentence(sentence_index=index, units=units, ids=vocab.encode(units),
                               word_of_unit=list(range(len(words))),
                               last_unit_of_word=list(range(len(words))))

    separator_units = vocab.units(SEPARATOR)
    units: list[str] = []
    word_of_unit: list[int] = []
    last_unit_of_word: list[int] = []
    n = len(words)
    for k, word in enumerate(words):
        word_units = vocab.units(word)
        if not word_units:
            raise CorpusError(f"sentence {index} ({sentence.sent_id or 'no id'}): word {k} is empty")
        units.extend(word_units)
        word_of_unit.extend([k] * len(word_units))
        last_unit_of_word.append(len(units) - 1)
        if k < n - 1 and _space_after(sentence, k):
            units.extend(separator_units)
            word_of_unit.extend([-1] * len(separator_units))
    return AlignedSentence(sentence_index=index, units=units, ids=vocab.encode(units),
                           word_of_unit=word_of_unit, last_unit_of_word=last_unit_of_word)


def align_corpus(corpus: Corpus | Iterable[Sentence], vocab: Vocabulary) -> list[AlignedSentence]:
    """:func:`align_sentence` for every sentence, indexed by position in the corpus."""
    return [align_sentence(s, i, vocab) for i, s in enumerate(corpus)]


def _space_after(sentence: Sentence, k: int) -> bool:
    flags = sentence.space_after
    return True if flags is None or k >= len(flags) else bool(flags[k])
