"""`rnnscope corpus-info` and the corpus summary behind it."""
from __future__ import annotations

from click.testing import CliRunner

from rnnscope.cli import main
from rnnscope.corpus.summary import summarize_corpus
from rnnscope.corpus.types import Corpus, Sentence

CONLLU = """# sent_id = a
1\tDogs\tdog\tNOUN\tNNS\tNumber=Plur\t2\tnsubj\t_\t_
2\tbark\tbark\tVERB\tVBP\tNumber=Plur|Tense=Pres\t0\troot\t_\t_
3\tloudly\tloudly\tADV\tRB\t_\t2\tadvmod\t_\tSpaceAfter=No

# sent_id = b
1\tA\ta\tDET\tDT\t_\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\tNumber=Sing\t0\troot\t_\t_
"""


def test_summary_flattens_feats_and_counts_values():
    corpus = Corpus([Sentence(["a", "b", "c"], annotations={
        "upos": ["NOUN", "NOUN", "VERB"], "feats": [{"Number": "Sing"}, {}, {"Number": "Plur"}],
        "position": [0, 1, 2]})], name="t")
    summary = summarize_corpus(corpus)
    t = summary.table.set_index("column")
    assert (summary.sentences, summary.words, summary.types) == (1, 3, 3)
    assert t.loc["upos", "distinct"] == 2 and t.loc["upos", "top"].startswith("NOUN 66.7%")
    assert t.loc["Number", "n"] == 2 and t.loc["Number", "kind"] == "categorical"
    assert t.loc["position", "kind"] == "numeric" and "max 2" in t.loc["position", "top"]


def test_corpus_info_conllu(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_text(CONLLU, encoding="utf-8")
    result = CliRunner().invoke(main, ["corpus-info", str(path), "--derived"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "sentences: 2" in out and "words: 5 " in out
    assert "NOUN 40.0%" in out
    assert "Number" in out and "Plur 66.7%" in out
    assert "depth" in out and "max 1" in out


def test_corpus_info_text_and_errors(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("the cat\nthe dog sat\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["corpus-info", str(path), "--max-lines", "1"])
    assert result.exit_code == 0 and "sentences: 1" in result.output and "words: 2 " in result.output
    missing = CliRunner().invoke(main, ["corpus-info", str(tmp_path / "nope.txt")])
    assert missing.exit_code == 2 and "error: file not found" in missing.output
    bad = tmp_path / "bad.conllu"
    bad.write_text("1\tx\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["corpus-info", str(bad)])
    assert result.exit_code == 2
    assert "bad.conllu:1: expected 10 tab-separated columns" in result.output
    assert "Traceback" not in result.output


def test_vocabulary_coverage_counts_unknowns(tmp_path):
    from rnnscope.corpus.summary import vocabulary_coverage
    from rnnscope.vocab import Vocabulary
    corpus = Corpus([Sentence(["the", "cat", "sat"]), Sentence(["The", "dog"])])
    vocab = Vocabulary.build("word", ["the cat sat"])
    cov = vocabulary_coverage(corpus, vocab)
    assert (cov.units, cov.unknown, cov.separators) == (5, 2, 0)
    assert dict(cov.top_unknown) == {"The": 1, "dog": 1}
    char = vocabulary_coverage(corpus, Vocabulary.build("char", ["the cat sat"]))
    assert char.separators == 3 and char.unknown == 4  # T, d, o, g
    vocab.save(tmp_path / "vocab.json")
    path = tmp_path / "c.txt"
    path.write_text("the cat sat\nThe dog\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["corpus-info", str(path), "--vocab", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "word vocabulary: 5 units (0 separators), 2 unknown (40.00%)" in result.output
    result = CliRunner().invoke(main, ["corpus-info", str(path), "--vocab", "byte"])
    assert "byte vocabulary: 18 units (3 separators), 0 unknown" in result.output
