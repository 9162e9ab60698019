"""CLI verbs gradients / memory-compare / synthetic-data / lda-probe, and the LDA probe on planted states."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rnnscope.analysis.lda_probe import lda_table
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.synthetic import generate, roles
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model

TEXT = ["the cat sat on the mat", "a dog sat on a log", "the dog saw the cat on the mat"] * 6


@pytest.fixture
def ckpt(tmp_path):
    vocab = Vocabulary.build("word", TEXT)
    model = tiny_model("lstm", layers=1, hidden=8, vocab=len(vocab), emb=4, seed=0)
    corpus = tmp_path / "text.txt"
    corpus.write_text("\n".join(TEXT) + "\n")
    return save_model(model, vocab, tmp_path / "m"), corpus


def test_gradients_cli_groups_words(ckpt, tmp_path):
    model, corpus = ckpt
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["gradients", "--model", str(model), "--corpus", str(corpus), "--max-delay", "4",
                                  "--window", "30", "--group-by", "word", "--basis", "raw", "--out", str(out)])
    assert r.exit_code == 0, r.output
    tab = pd.read_csv(out / "memory_layer1_c.csv")
    assert set(tab.delay) == set(range(5)) and "cat" in set(tab.group) and "<eos>" in set(tab.group)
    fits = pd.read_csv(out / "decay_layer1_c.csv")
    assert fits.b.notna().all() and (fits.frequency > 0).all()


def test_gradients_cli_clear_errors(ckpt):
    model, corpus = ckpt
    r = CliRunner().invoke(main, ["gradients", "--model", str(model), "--corpus", str(corpus),
                                  "--max-delay", "500"])
    assert r.exit_code == 2 and "error: max delay 500 is not shorter than every sequence" in r.output
    r = CliRunner().invoke(main, ["gradients", "--model", str(model), "--corpus", str(corpus),
                                  "--max-delay", "3", "--group-by", "upos"])
    assert r.exit_code == 2 and "no 'upos' annotation" in r.output
    r = CliRunner().invoke(main, ["gradients", "--model", str(model), "--corpus", str(corpus),
                                  "--max-delay", "3", "--state", "layer1.i"])
    assert r.exit_code == 2 and "gates are not states" in r.output


def test_memory_compare_cli(ckpt, tmp_path):
    model, corpus = ckpt
    out = tmp_path / "cmp"
    r = CliRunner().invoke(main, ["memory-compare", "--model", str(model), "--random-init", "--state", "layer1.c",
                                  "--state", "layer1.h", "--corpus", str(corpus), "--max-delay", "3",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    tab = pd.read_csv(out / "memory_compare.csv")
    assert tab.name.nunique() == 4 and (out / "memory_compare.png").exists()


def test_synthetic_data_and_lda_cli(tmp_path):
    r = CliRunner().invoke(main, ["synthetic-data", "--out", str(tmp_path / "d"), "--train-tokens", "3000",
                                  "--valid-tokens", "3000", "--test-tokens", "500"])
    assert r.exit_code == 0, r.output
    assert "1.1375" in r.output and (tmp_path / "d" / "train.txt").exists()
    lines = (tmp_path / "d" / "train.txt").read_text().splitlines()
    vocab = Vocabulary.build("word", lines)
    model = tiny_model("lstm", layers=1, hidden=16, vocab=len(vocab), emb=6, seed=1)
    save_model(model, vocab, tmp_path / "m")
    r = CliRunner().invoke(main, ["lda-probe", "--model", str(tmp_path / "m"), "--data",
                                  str(tmp_path / "d" / "valid.txt"), "--test-size", "800", "--max-delay", "3"])
    assert r.exit_code == 0, r.output
    assert "counting subspace" in r.output and "LDA acc c" in r.output


def test_lda_finds_planted_counting_subspace():
    rng = np.random.default_rng(0)
    lab = roles(generate(6000, seed=2))
    lab["token_id"] = np.where(lab.new == "EOS", "EOS", lab.token)
    count_means = {c: rng.normal(scale=3, size=5) for c in lab["count"].unique()}
    tok_means = {t: rng.normal(scale=3, size=15) for t in lab["token_id"].unique()}
    X = np.hstack([np.stack([count_means[c] for c in lab["count"]]),
                   np.stack([tok_means[t] for t in lab["token_id"]])])
    X = X @ np.linalg.qr(rng.normal(size=(20, 20)))[0]  # hide the split behind a rotation
    X += rng.normal(scale=0.5, size=X.shape)
    res = lda_table({"c": X}, lab, test_size=1500, k=5)
    p = res.pivot
    assert p.loc["cell state", "Counting"] > 90 and p.loc["cell state", "Token ID"] > 90
    assert p.loc["cell state 'counting subspace'", "Counting"] > 90
    assert p.loc["cell state 'counting subspace'", "Token ID"] < 40
    assert p.loc["cell state 'ID subspace'", "Token ID"] > 90
    assert p.loc["cell state 'ID subspace'", "Counting"] < 40


def test_gradients_cli_property(tmp_path):
    from rnnscope.corpus.types import Corpus  # noqa: F401  (conllu written by hand below)

    sents = [("the cat sat", "DT NN VBD"), ("the cats sat", "DT NNS VBD"), ("a dog ran", "DT NN VBD"),
             ("the dogs ran", "DT NNS VBD"), ("a bird sat", "DT NN VBD"), ("the birds ran", "DT NNS VBD")] * 3
    lines = []
    for k, (words, tags) in enumerate(sents):
        lines.append(f"# sent_id = {k}")
        for i, (w, t) in enumerate(zip(words.split(), tags.split())):
            lines.append(f"{i + 1}\t{w}\t_\tX\t{t}\t_\t0\troot\t_\t_")
        lines.append("")
    conllu = tmp_path / "c.conllu"
    conllu.write_text("\n".join(lines) + "\n")
    vocab = Vocabulary.build("word", [w for w, _ in sents])
    model = tiny_model("lstm", layers=1, hidden=8, vocab=len(vocab), emb=3, seed=0)
    save_model(model, vocab, tmp_path / "m")
    r = CliRunner().invoke(main, ["gradients", "--model", str(tmp_path / "m"), "--corpus", str(conllu),
                                  "--group-by", "xpos", "--max-delay", "3",  # normalised basis
                                  "--property", "sg-pl=NN:NNS", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    pm = pd.read_csv(tmp_path / "o" / "property_sg-pl_layer1_c.csv")
    assert len(pm) == 4 and (pm.m <= 1 + 1e-9).all() and (pm.cos5 <= 1 + 1e-9).all()
    assert (pm.cos5 >= pm.cos1 - 1e-9).all() and (pm.m > 0).all()
    r = CliRunner().invoke(main, ["gradients", "--model", str(tmp_path / "m"), "--corpus", str(conllu),
                                  "--group-by", "xpos", "--max-delay", "3", "--property", "x=NN:VBZ"])
    assert r.exit_code == 2 and "no words tagged VBZ" in r.output


def test_memory_inputs_limits_units_and_rare_words(ckpt):
    from rnnscope.analysis.memory_runs import memory_inputs, parse_property
    from rnnscope.corpus.readers import read_corpus
    from rnnscope.errors import RnnscopeError

    model, corpus = ckpt
    vocab = Vocabulary.load(model / "vocab.json")
    c = read_corpus(str(corpus))
    seqs, labels = memory_inputs(c, vocab, "word", window=10, max_units=25)
    assert sum(len(s) for s in seqs) == 25 and [len(s) for s in seqs] == [10, 10, 5]
    assert [len(lab) for lab in labels] == [10, 10, 5]
    seqs, labels = memory_inputs(c, vocab, "word", window=10, min_count=7)
    kept = {w for lab in labels for w in lab if w is not None}
    # 18 sentences: "the" (42x), "on" (18x), "<eos>" (18x) ... but "log" (6x) is too rare
    assert {"the", "on", "<eos>"} <= kept and "log" not in kept
    assert None in {w for lab in labels for w in lab}
    assert parse_property("sg-pl=NN,NNP:NNS") == ("sg-pl", {"NN", "NNP"}, {"NNS"})
    with pytest.raises(RnnscopeError, match="expected NAME=TAG"):
        parse_property("sg-pl")
