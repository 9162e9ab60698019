"""The data types every reader produces and every analysis consumes.

A :class:`Corpus` is a list of :class:`Sentence`; a sentence holds its words and per-word
annotation columns. Standard column names (all optional, one value per word, ``None`` where
absent): ``upos``, ``xpos``, ``deprel``, ``head`` (1-based, 0 = root), ``feats`` (dict of UD
FEATS, flattened into one column per key such as ``Number`` in token tables), and the derived
``position`` (0-based), ``length`` (words in sentence), ``depth`` (root = 0, needs ``head``),
``frequency`` and ``log_frequency`` (counts from a training corpus).

An :class:`AlignedSentence` maps a sentence onto the units a model reads: for a word model one
unit per word; for a char/byte model every character/byte of the words plus separators
(``word_of_unit == -1``, tagged ``SPACE``), and ``last_unit_of_word`` tells where each word ends.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Sentence:
    """One sentence: its words, per-word annotation columns, and an id."""

    words: list[str]
    annotations: dict[str, list] = field(default_factory=dict)
    sent_id: str = ""
    space_after: list[bool] | None = None  # False where the original text had no space (CoNLL-U MISC)
    # CoNLL-U multiword tokens as (first word, last word, surface form), 0-based inclusive word
    # indices: "du" = de + le is (k, k + 1, "du"); char/byte models read the surface form.
    multiword_tokens: list[tuple[int, int, str]] | None = None

    def __len__(self) -> int:
        return len(self.words)


@dataclass
class Corpus:
    """An ordered list of sentences with a name (usually the file it came from)."""

    sentences: list[Sentence]
    name: str = "corpus"

    def __len__(self) -> int:
        return len(self.sentences)

    def __iter__(self) -> Iterator[Sentence]:
        return iter(self.sentences)

    def __getitem__(self, index: int) -> Sentence:
        return self.sentences[index]

    @property
    def annotation_names(self) -> list[str]:
        """Annotation columns present in at least one sentence, in first-seen order."""
        names: dict[str, None] = {}
        for s in self.sentences:
            names.update(dict.fromkeys(s.annotations))
        return list(names)

    @property
    def n_words(self) -> int:
        return sum(len(s) for s in self.sentences)


@dataclass
class AlignedSentence:
    """A sentence as a model reads it: unit strings, their ids, and the unit<->word mapping."""

    sentence_index: int
    units: list[str]
    ids: list[int]
    word_of_unit: list[int]        # word index of each unit, -1 for separators
    last_unit_of_word: list[int]   # unit index of the last unit of each word

    def __len__(self) -> int:
        return len(self.units)
