"""The WSJ treebank sample reader: leaves, traces dropped, gold tags."""
from __future__ import annotations

import zipfile

import pytest

from rnnscope.corpus.ptb_trees import parse_tree_leaves, read_wsj_treebank
from rnnscope.corpus.readers import read_corpus
from rnnscope.errors import CorpusError

TREES = """( (S (NP-SBJ (DT The) (NN dog) ) (VP (VBD barked) (NP (-NONE- *T*-1) )) (. .) ))
( (S (NP-SBJ (PRP It) ) (VP (VBD rained) ) ))
"""


def test_leaves_of_bracketed_trees():
    trees = parse_tree_leaves(TREES)
    assert len(trees) == 2
    assert trees[0] == [("DT", "The"), ("NN", "dog"), ("VBD", "barked"), ("-NONE-", "*T*-1"), (".", ".")]


def _zip(tmp_path, members, name="tb.zip"):
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for name, text in members.items():
            z.writestr(name, text)
    return path


def test_zip_reader_drops_traces(tmp_path):
    path = _zip(tmp_path, {"treebank/combined/wsj_0002.mrg": TREES,
                           "treebank/combined/wsj_0001.mrg": "( (S (NN x) ))\n",
                           "treebank/combined/README": "not a tree"})
    corpus = read_corpus(path)
    assert [s.sent_id for s in corpus] == ["wsj_0001.mrg:0", "wsj_0002.mrg:0", "wsj_0002.mrg:1"]
    assert corpus[1].words == ["The", "dog", "barked", "."]
    assert corpus[1].annotations["xpos"] == ["DT", "NN", "VBD", "."]
    assert corpus[1].annotations["upos"] == [None] * 4
    assert len(read_wsj_treebank(path, max_files=1)) == 1


def test_unbalanced_tree_names_member_and_line(tmp_path):
    path = _zip(tmp_path, {"treebank/combined/wsj_0001.mrg": "( (S (NN x) ))\n(NN y) )\n"})
    with pytest.raises(CorpusError, match=r"wsj_0001\.mrg:2: unbalanced"):
        read_wsj_treebank(path)
    with pytest.raises(CorpusError, match="no .mrg"):
        read_wsj_treebank(_zip(tmp_path, {"a.txt": "x"}, name="other.zip"))


def test_wsj_sample_counts(shared_data):
    corpus = read_wsj_treebank(shared_data / "nltk_treebank/treebank.zip")
    assert len(corpus) == 3914
    assert all("-NONE-" not in s.annotations["xpos"] for s in corpus)
    assert corpus[0].words[:2] == ["Pierre", "Vinken"]
