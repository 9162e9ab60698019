"""Derived annotations: position, length, dependency depth, frequencies."""
from __future__ import annotations

import math

import pytest

from rnnscope.corpus.derived import add_derived, tree_depths, word_frequencies
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import CorpusError


def test_depth_of_a_hand_tree():
    # "The old dog barked at cats": barked is root; dog <- barked; The, old <- dog;
    # cats <- barked; at <- cats
    heads = [3, 3, 4, 0, 6, 4]
    assert tree_depths(heads) == [2, 2, 1, 0, 2, 1]


def test_depth_with_unannotated_heads_and_bad_trees():
    assert tree_depths([0, 1, None, 3]) == [0, 1, None, None]
    with pytest.raises(CorpusError, match="cycle"):
        tree_depths([2, 3, 1])
    with pytest.raises(CorpusError, match="outside 0..2"):
        tree_depths([0, 7], where="x.conllu: sentence 4")


def test_add_derived_columns():
    s1 = Sentence(["the", "dog", "barked"], annotations={"head": [2, 3, 0]})
    s2 = Sentence(["the", "cat"])
    corpus = add_derived(Corpus([s1, s2]))
    a = s1.annotations
    assert a["position"] == [0, 1, 2] and a["length"] == [3, 3, 3]
    assert a["depth"] == [2, 1, 0]
    assert s2.annotations["depth"] == [None, None]
    assert a["frequency"] == [2, 1, 1]
    assert a["log_frequency"][0] == pytest.approx(math.log(3))
    assert corpus.annotation_names[:1] == ["head"]


def test_frequency_from_other_corpus_path_and_dict(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("the dog\nthe the cat\n", encoding="utf-8")
    assert word_frequencies(train) == {"the": 3, "dog": 1, "cat": 1}
    corpus = add_derived(Corpus([Sentence(["the", "bird"])]), frequency_from=train)
    assert corpus[0].annotations["frequency"] == [3, 0]
    assert corpus[0].annotations["log_frequency"] == [pytest.approx(math.log(4)), 0.0]
    corpus = add_derived(Corpus([Sentence(["The", "bird"])]), frequency_from={"the": 5, "bird": 2})
    assert corpus[0].annotations["frequency"] == [0, 2]  # exact word forms, no lowercasing


def test_bad_heads_in_corpus_name_the_sentence():
    bad = Corpus([Sentence(["a", "b"], annotations={"head": [2, 1]}, sent_id="s9")], name="f.conllu")
    with pytest.raises(CorpusError, match=r"f\.conllu: sentence 0 \(s9\).*cycle"):
        add_derived(bad)


def test_ewt_depths_are_consistent(shared_data):
    from rnnscope.corpus.readers import read_corpus
    corpus = add_derived(read_corpus(shared_data / "ud/en_ewt/en_ewt-ud-dev.conllu.gz"))
    for s in corpus:
        heads, depth = s.annotations["head"], s.annotations["depth"]
        assert depth.count(0) == heads.count(0) >= 1
        for k, h in enumerate(heads):
            if h:
                assert depth[k] == depth[h - 1] + 1
