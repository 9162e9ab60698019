"""Align a sentence's words with the units a model reads (words, characters or bytes).

Word-level annotations live on words, but a char or byte model reads characters or bytes. This
module builds, for each sentence, the unit strings, their vocabulary ids, the word each unit
belongs to (``-1`` for the separators between words) and the index of the last unit of every
word, so that analyses can read a word's state where the model has just finished reading it.

The surface text of a sentence is its words joined by one space, except after a word whose
``space_after`` flag is ``False`` (CoNLL-U ``SpaceAfter=No``). A CoNLL-U multiword token
(French ``du`` = ``de`` + ``le``) is read as its surface form; its characters are shared out
among its words (see :func:`split_multiword`). No ``<eos>``/BOS unit is added here: the
extractor decides about sentence boundaries.

>>> from rnnscope.vocab import Vocabulary
>>> from rnnscope.corpus.types import Sentence
>>> a = align_sentence(Sentence(["Hi", "!"], space_after=[False, True]), 0, Vocabulary.bytes())
>>> a.units, a.word_of_unit, a.last_unit_of_word
(['H', 'i', '!'], [0, 0, 1], [1, 2])
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

from rnnscope.corpus.types import AlignedSentence, Corpus, Sentence
from rnnscope.errors import CorpusError
from rnnscope.vocab import Vocabulary

SEPARATOR = " "


def surface_text(sentence: Sentence) -> str:
    """The sentence as running text: words joined by spaces, honouring ``space_after`` and
    multiword tokens."""
    return "".join(piece for piece, _ in text_pieces(sentence))


def text_pieces(sentence: Sentence) -> list[tuple[str, int]]:
    """The surface text cut into ``(piece, word index)``; separators have word index ``-1``.

    Every word has exactly one piece, in order (a piece may be empty only inside a multiword
    token shorter than its number of words).
    """
    words = sentence.words
    n = len(words)
    groups = {first: (last, form) for first, last, form in (sentence.multiword_tokens or ())}
    pieces: list[tuple[str, int]] = []
    k = 0
    while k < n:
        if k in groups and groups[k][0] < n:
            last, form = groups[k]
            pieces.extend(zip(split_multiword(form, words[k:last + 1]), range(k, last + 1)))
            k = last
        else:
            pieces.append((words[k], k))
        if k < n - 1 and _space_after(sentence, k):
            pieces.append((SEPARATOR, -1))
        k += 1
    return pieces


def split_multiword(surface: str, words: Sequence[str]) -> list[str]:
    """Share the characters of a multiword token's ``surface`` form out among its ``words``.

    Each word but the last takes the longest prefix of the remaining text it matches (ignoring
    case and accents), at least one character while every later word can still get one; the last word takes
    the rest. ``don't`` = do + n't gives ``do|n't``, ``del`` = de + el gives ``de|l``,
    ``au`` = à + le gives ``a|u``.

    >>> split_multiword("del", ["de", "el"])
    ['de', 'l']
    """
    pieces: list[str] = []
    rest = surface
    for j, word in enumerate(words[:-1]):
        still_to_come = len(words) - j - 1
        common = 0
        for a, b in zip(word, rest):
            if _base(a) != _base(b):
                break
            common += 1
        take = min(max(common, 1), max(len(rest) - still_to_come, 0))
        pieces.append(rest[:take])
        rest = rest[take:]
    pieces.append(rest)
    return pieces


def align_sentence(sentence: Sentence, index: int, vocab: Vocabulary) -> AlignedSentence:
    """Map ``sentence`` (number ``index`` in its corpus) onto ``vocab``'s units.

    Word vocabularies give one unit per word (unknown words get ``<unk>``'s id). Char and byte
    vocabularies give every character (or UTF-8 byte) of the surface text: each unit is mapped
    to its word, and separators between words (absent where ``space_after`` is False) to ``-1``.
    """
    words = sentence.words
    if vocab.kind == "word":
        units = list(words)
        return AlignedSentence(sentence_index=index, units=units, ids=vocab.encode(units),
                               word_of_unit=list(range(len(words))),
                               last_unit_of_word=list(range(len(words))))

    units: list[str] = []
    word_of_unit: list[int] = []
    last_unit_of_word: list[int] = []
    waiting: list[int] = []  # words with no unit of their own before any unit was read
    for piece, k in text_pieces(sentence):
        piece_units = vocab.units(piece)
        units.extend(piece_units)
        word_of_unit.extend([k] * len(piece_units))
        if units and waiting:
            last_unit_of_word.extend([len(units) - 1] * len(waiting))
            waiting = []
        if k >= 0:
            if units:
                last_unit_of_word.append(len(units) - 1)
            else:
                waiting.append(k)
    if waiting:
        raise CorpusError(f"sentence {index} ({sentence.sent_id or 'no id'}): no text to align "
                          f"(empty words)")
    return AlignedSentence(sentence_index=index, units=units, ids=vocab.encode(units),
                           word_of_unit=word_of_unit, last_unit_of_word=last_unit_of_word)


def align_corpus(corpus: Corpus | Iterable[Sentence], vocab: Vocabulary) -> list[AlignedSentence]:
    """:func:`align_sentence` for every sentence, indexed by position in the corpus."""
    return [align_sentence(s, i, vocab) for i, s in enumerate(corpus)]


def _base(char: str) -> str:
    """A character without case or accents, for matching word forms against surface forms."""
    return unicodedata.normalize("NFD", char)[:1].casefold()


def _space_after(sentence: Sentence, k: int) -> bool:
    flags = sentence.space_after
    return True if flags is None or k >= len(flags) else bool(flags[k])
