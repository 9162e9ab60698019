"""CoNLL-U and plain-text readers: structure, skipped lines, errors, real corpora."""
from __future__ import annotations

import gzip

import pytest

from rnnscope.corpus.readers import read_conllu, read_corpus, read_text
from rnnscope.errors import CorpusError

# A small CoNLL-U fixture with a multiword token (1-2), an empty node (3.1) and SpaceAfter=No.
CONLLU = """# newdoc id = d1
# sent_id = s1
# text = Don't stop.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\tMood=Imp|VerbForm=Fin\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\tstop\tstop\tVERB\tVB\tVerbForm=Inf\t0\troot\t_\tSpaceAfter=No
3.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t3:conj\t_
4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_

# sent_id = s2
1\tDogs\tdog\tNOUN\tNNS\tNumber=Plur\t2\tnsubj\t_\t_
2\tbark\tbark\tVERB\tVBP\t_\t0\troot\t_\t_
"""


def test_conllu_skips_ranges_and_empty_nodes(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    corpus = read_conllu(path)
    assert len(corpus) == 2 and corpus.n_words == 6
    s = corpus[0]
    assert s.sent_id == "s1"
    assert s.words == ["Do", "n't", "stop", "."]
    assert s.annotations["upos"] == ["AUX", "PART", "VERB", "PUNCT"]
    assert s.annotations["head"] == [3, 3, 0, 3]
    assert s.annotations["feats"][0] == {"Mood": "Imp", "VerbForm": "Fin"}
    assert s.annotations["feats"][1] == {}
    assert s.annotations["deprel"][2] == "root"
    # inside the multiword token no space; SpaceAfter=No on "stop"
    assert s.space_after == [False, True, False, True]
    assert s.multiword_tokens == [(0, 1, "Don't")]
    assert corpus[1].multiword_tokens is None
    assert corpus[1].annotations["feats"][0] == {"Number": "Plur"}


def test_conllu_gz_and_dispatch(tmp_path):
    path = tmp_path / "x.conllu.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(CONLLU)
    corpus = read_corpus(path)
    assert [s.sent_id for s in corpus] == ["s1", "s2"]
    assert "upos" in corpus.annotation_names


def test_malformed_conllu_line_names_file_and_line(tmp_path):
    lines = CONLLU.splitlines()
    lines[5] = "2\tn't\tnot\tPART"  # line 6: too few columns
    path = tmp_path / "bad.conllu"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.conllu:6: expected 10 tab-separated columns"):
        read_conllu(path)


def test_conllu_bad_head_and_gap_in_ids(tmp_path):
    bad_head = CONLLU.replace("3\tstop\tstop\tVERB\tVB\tVerbForm=Inf\t0", "3\tstop\tstop\tVERB\tVB\tVerbForm=Inf\tx")
    (tmp_path / "h.conllu").write_text(bad_head, encoding="utf-8")
    with pytest.raises(CorpusError, match=r"h\.conllu:7:"):
        read_conllu(tmp_path / "h.conllu")
    gap = CONLLU.replace("4\t.\t.", "5\t.\t.")
    (tmp_path / "g.conllu").write_text(gap, encoding="utf-8")
    with pytest.raises(CorpusError, match=r"g\.conllu:9: expected word id 4"):
        read_conllu(tmp_path / "g.conllu")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(CorpusError, match="file not found"):
        read_corpus(tmp_path / "nope.conllu")
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(CorpusError, match="empty corpus"):
        read_text(tmp_path / "empty.txt")
    (tmp_path / "empty.conllu").write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(CorpusError):
        read_conllu(tmp_path / "empty.conllu")


def test_text_reader_skips_blank_lines_and_limits(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(" the cat sat \n\n = Heading = \n a  b\tc\n", encoding="utf-8")
    corpus = read_text(path)
    assert [s.words for s in corpus] == [["the", "cat", "sat"], ["=", "Heading", "="], ["a", "b", "c"]]
    assert [s.sent_id for s in corpus] == ["1", "3", "4"]
    assert len(read_text(path, max_lines=2)) == 2


def test_ewt_dev_counts(shared_data):
    corpus = read_corpus(shared_data / "ud/en_ewt/en_ewt-ud-dev.conllu.gz")
    assert len(corpus) == 2001
    assert corpus.n_words == 25147
    for s in corpus:
        assert all(len(col) == len(s.words) for col in s.annotations.values())
        assert len(s.space_after) == len(s.words)


def test_ptb_valid_text(shared_data):
    corpus = read_corpus(shared_data / "ptb/ptb.valid.txt.gz")
    assert len(corpus) == 3370
    assert corpus.n_words == 70390


@pytest.mark.parametrize("treebank", ["en_ewt/en_ewt-ud-dev", "fr_gsd/fr_gsd-ud-dev"])
def test_surface_text_equals_the_text_comment(shared_data, treebank):
    """Words + SpaceAfter + multiword tokens rebuild every sentence's `# text` exactly."""
    import conllu

    from rnnscope.corpus.align import surface_text
    path = shared_data / f"ud/{treebank}.conllu.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        texts = [s.metadata["text"] for s in conllu.parse_incr(f)]
    corpus = read_corpus(path)
    assert len(texts) == len(corpus)
    assert [surface_text(s) for s in corpus] == texts
