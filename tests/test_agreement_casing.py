"""Agreement items follow the vocabulary's casing: detected, applied to every source, said."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from rnnscope.agreement import generate
from rnnscope.agreement.casing import normalise_case, vocab_is_lowercased
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model

LOWER = Vocabulary("word", ["the", "boy", "boys", "greets", "greet", "n", "<unk>"])
CASED = Vocabulary("word", ["The", "the", "boy", "boys", "greets", "greet", "Pat"])


def test_vocabulary_casing_is_detected():
    assert vocab_is_lowercased(LOWER)
    assert not vocab_is_lowercased(CASED)
    assert not vocab_is_lowercased(Vocabulary.bytes())  # byte models read text as it is


def test_auto_lowercases_for_a_lowercased_vocabulary_only():
    items = generate(["Simple"], n=3, seed=0)
    assert items[0].prefix[0] == "The"
    low, note = normalise_case(items, LOWER, "auto")
    assert all(w == w.lower() for it in low for w in (*it.prefix, it.correct, it.wrong))
    assert "lowercased 6 of 6 items" in note and "vocabulary is lowercased" in note
    kept, note = normalise_case(items, CASED, "auto")
    assert kept == items and "kept as written" in note
    forced, _ = normalise_case(items, CASED, "lower")
    assert forced[0].prefix[0] == "the"
    same, _ = normalise_case(items, LOWER, "keep")
    assert same == items
    with pytest.raises(RnnscopeError, match="--case"):
        normalise_case(items, LOWER, "upper")


def test_cli_reads_a_cased_file_on_a_lowercased_model(tmp_path):
    """A cased Lakretz-style file on a lowercased vocabulary: no item loses its 'The' to <unk>."""
    words = ["the", "boy", "boys", "greets", "greet", "near", "car", "cars"]
    vocab = Vocabulary("word", words)
    save_model(tiny_model(vocab=len(vocab), hidden=8, emb=4), vocab, tmp_path / "m")
    (tmp_path / "simple.txt").write_text(
        "The boy greets\tsingular\tcorrect\t1\nThe boy greet\tsingular\twrong\t1\n"
        "The boys greet\tplural\tcorrect\t2\nThe boys greets\tplural\twrong\t2\n")
    out = CliRunner().invoke(main, ["agreement", str(tmp_path / "m"), "--lakretz",
                                    str(tmp_path / "simple.txt"), "--out", str(tmp_path / "a")])
    assert out.exit_code == 0, out.output
    assert "case: lowercased 2 of 2 items (the vocabulary is lowercased)" in out.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "a" / "agreement_items.csv")
    assert (table["n_unk"] == 0).all() and table["prefix"].str.startswith("the ").all()


def test_gzipped_files_and_their_siblings_are_read(tmp_path):
    """A gzipped Linzen pair (X.text.gz -> X.gold.gz) and a gzipped Lakretz file load."""
    import gzip

    from rnnscope.agreement.formats import read_lakretz, read_linzen

    with gzip.open(tmp_path / "subj_agr_filtered.text.gz", "wt") as fh:
        fh.write("the boy near the cars greets <eos>\n")
    with gzip.open(tmp_path / "subj_agr_filtered.gold.gz", "wt") as fh:
        fh.write("5\tgreets\tgreet\t1\n")
    items = read_linzen(tmp_path / "subj_agr_filtered.text.gz")
    assert [(it.prefix, it.correct, it.wrong) for it in items] == [
        (("the", "boy", "near", "the", "cars"), "greets", "greet")]
    with gzip.open(tmp_path / "simple.txt.gz", "wt") as fh:
        fh.write("The boy greets\tsingular\tcorrect\t1\nThe boy greet\tsingular\twrong\t1\n")
    assert read_lakretz(tmp_path / "simple.txt.gz")[0].correct == "greets"
    (tmp_path / "bad.txt.gz").write_bytes(b"\x1f\x8b" + b"not really gzip")
    with pytest.raises(RnnscopeError, match="corrupt gzip"):
        read_lakretz(tmp_path / "bad.txt.gz")


def test_unknown_words_are_never_silent(tmp_path):
    """agreement prints the <unk> share (a warning above 5 % naming the words) and counts
    items with unknown prefix words per condition; extract and probe say it too."""
    from rnnscope.corpus.unknown import unknown_report

    rep = unknown_report([["the", "boy", "greets"], ["the", "zorb", "zorb"]], {"the", "boy", "greets"})
    assert rep.n_unknown == 2 and rep.commonest[0] == ("zorb", 2)
    assert rep.line().startswith("warning: 33.3% of the 6 tokens are <unk>") and "'zorb' (2)" in rep.line()
    words = ["the", "boy", "boys", "greets", "greet"]
    vocab = Vocabulary("word", words)
    save_model(tiny_model(vocab=len(vocab), hidden=8, emb=4), vocab, tmp_path / "m")
    (tmp_path / "f.txt").write_text(
        "The boy near Pat greets\tsingular\tcorrect\t1\nThe boy near Pat greet\tsingular\twrong\t1\n")
    out = CliRunner().invoke(main, ["agreement", str(tmp_path / "m"), "--lakretz", str(tmp_path / "f.txt")])
    assert out.exit_code == 0, out.output
    assert "unk_prefixes" in out.output
    assert "warning: 50.0% of the 4 prefix words are <unk>" in out.output and "'near' (1)" in out.output
    (tmp_path / "c.txt").write_text("the boy greets\nthe zorb greets\n")
    ext = CliRunner().invoke(main, ["extract", "--model", str(tmp_path / "m"), "--corpus",
                                    str(tmp_path / "c.txt"), "--out", str(tmp_path / "s"), "--no-progress"])
    assert ext.exit_code == 0, ext.output
    assert "of the 6 units the model read are <unk>" in ext.output
