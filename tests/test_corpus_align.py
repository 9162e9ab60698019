"""Alignment of words with word, char and byte units."""
from __future__ import annotations

from rnnscope.corpus.align import align_corpus, align_sentence, split_multiword, surface_text
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.vocab import Vocabulary


def _check_consistent(a, sentence):
    """Every unit maps to a word whose text contains it; last units really are last."""
    for k, last in enumerate(a.last_unit_of_word):
        assert a.word_of_unit[last] == k
        assert last + 1 == len(a.units) or a.word_of_unit[last + 1] != k
    assert sorted(set(a.word_of_unit) - {-1}) == list(range(len(sentence.words)))


def test_word_alignment_one_unit_per_word_and_unknowns():
    vocab = Vocabulary.build("word", ["the cat sat"])
    s = Sentence(["the", "dog", "sat"])
    a = align_sentence(s, 3, vocab)
    assert a.sentence_index == 3
    assert a.units == ["the", "dog", "sat"]
    assert a.ids == [vocab.stoi["the"], vocab.unk_id, vocab.stoi["sat"]]
    assert a.word_of_unit == [0, 1, 2] and a.last_unit_of_word == [0, 1, 2]
    assert vocab.eos_id not in a.ids


def test_char_alignment_separators_and_last_units():
    vocab = Vocabulary.build("char", ["the cat sat on a mat"])
    s = Sentence(["the", "cat", "sat"])
    a = align_sentence(s, 0, vocab)
    assert "".join(a.units) == "the cat sat"
    assert a.word_of_unit == [0, 0, 0, -1, 1, 1, 1, -1, 2, 2, 2]
    assert a.last_unit_of_word == [2, 6, 10]
    assert a.ids == vocab.encode(list("the cat sat"))
    _check_consistent(a, s)


def test_space_after_false_removes_separator():
    vocab = Vocabulary.build("char", ["abc"])
    s = Sentence(["Hello", ",", "world", "!"], space_after=[False, True, False, True])
    a = align_sentence(s, 0, vocab)
    assert "".join(a.units) == surface_text(s) == "Hello, world!"
    assert a.word_of_unit.count(-1) == 1
    assert a.last_unit_of_word == [4, 5, 11, 12]
    assert all(i == vocab.unk_id for i in a.ids[:1])  # 'H' is not in this vocabulary
    _check_consistent(a, s)


def test_byte_alignment_non_ascii_word_has_one_unit_per_byte():
    vocab = Vocabulary.bytes()
    s = Sentence(["un", "café"])
    a = align_sentence(s, 0, vocab)
    cafe_units = [u for u, w in zip(a.units, a.word_of_unit) if w == 1]
    assert len(cafe_units) == 5 == len("café".encode("utf-8"))
    assert a.ids == list("un café".encode("utf-8"))
    assert a.last_unit_of_word == [1, 7]
    char = align_sentence(s, 0, Vocabulary.build("char", ["un café"]))
    assert len(char.units) == 7 and char.last_unit_of_word == [1, 6]
    _check_consistent(a, s)


def test_align_corpus_indexes_sentences():
    corpus = Corpus([Sentence(["a", "b"]), Sentence(["c"])])
    out = align_corpus(corpus, Vocabulary.bytes())
    assert [a.sentence_index for a in out] == [0, 1]
    assert [len(a) for a in out] == [3, 1]


def test_multiword_token_read_as_its_surface_form():
    # French "du" = de + le: a char/byte model reads "du", not "dele"
    s = Sentence(["Il", "parle", "de", "le", "café"], space_after=[True, True, False, True, True],
                 multiword_tokens=[(2, 3, "du")])
    assert surface_text(s) == "Il parle du café"
    a = align_sentence(s, 0, Vocabulary.bytes())
    assert bytes(a.ids).decode("utf-8") == "Il parle du café"
    du = [w for w in a.word_of_unit[9:11]]
    assert du == [2, 3]                     # "d" -> de, "u" -> le
    assert a.last_unit_of_word[2:4] == [9, 10]
    _check_consistent(a, s)
    w = align_sentence(s, 0, Vocabulary.build("word", ["de le"]))
    assert w.units == s.words               # word models still read syntactic words


def test_split_multiword_shares_characters():
    assert split_multiword("don't", ["do", "n't"]) == ["do", "n't"]
    assert split_multiword("del", ["de", "el"]) == ["de", "l"]
    assert split_multiword("dámelo", ["da", "me", "lo"]) == ["dá", "me", "lo"]
    assert split_multiword("au", ["à", "le"]) == ["a", "u"]
    # fewer characters than words: the first word gets nothing and shares the last unit
    s = Sentence(["a", "b"], multiword_tokens=[(0, 1, "x")])
    a = align_sentence(s, 0, Vocabulary.bytes())
    assert a.units == ["x"] and a.last_unit_of_word == [0, 0]
