"""Sampling: T=0 is greedy argmax, seeds reproduce, a near-deterministic model replays its pattern."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from rnnscope.cli import main
from rnnscope.sampling import sample, sample_ids
from rnnscope.training import TrainConfig, train_lm
from rnnscope.vocab import Vocabulary

from conftest import tiny_model

PATTERN = "the quick fox\n"


@pytest.fixture(scope="module")
def pattern_run(tmp_path_factory):
    """A char LSTM trained until it predicts PATTERN almost surely (run folder)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("pattern")
    (d / "train.txt").write_text(PATTERN * 100)
    (d / "valid.txt").write_text(PATTERN * 10)
    train_lm(TrainConfig(out=str(d / "run"), corpus_train=str(d / "train.txt"),
                         corpus_valid=str(d / "valid.txt"), level="char", hidden=32, emb=8,
                         bptt=14, batch_size=4, epochs=8, lr=1e-2, dropout=0.0, progress=False))
    torch.set_num_threads(before)
    return d / "run"


def _greedy(model, prime, length):
    ids, out = list(prime), []
    for _ in range(length):  # re-run the whole prefix each step: independent of the cached state
        logits, _ = model(torch.tensor([ids]))
        nxt = int(logits[0, -1].argmax())
        ids.append(nxt)
        out.append(nxt)
    return out


def test_temperature_zero_is_greedy_argmax_and_deterministic():
    model = tiny_model("gru", layers=2, vocab=40)
    with torch.no_grad():
        expected = _greedy(model, [3, 7, 1], 15)
    assert sample_ids(model, [3, 7, 1], 15, temperature=0.0, seed=1) == expected
    assert sample_ids(model, [3, 7, 1], 15, temperature=1e-9, seed=2) == expected


def test_seed_reproduces_and_temperature_spreads():
    model = tiny_model("lstm", vocab=40)
    a = sample_ids(model, [1], 40, temperature=1.0, seed=5)
    assert a == sample_ids(model, [1], 40, temperature=1.0, seed=5)
    assert a != sample_ids(model, [1], 40, temperature=1.0, seed=6)
    hot = len(set(sample_ids(model, [1], 200, temperature=5.0, seed=0)))
    cold = len(set(sample_ids(model, [1], 200, temperature=0.05, seed=0)))
    assert hot > cold


def test_trained_model_replays_the_pattern(pattern_run):
    from rnnscope.checkpoint import load_model

    model, vocab = load_model(pattern_run / "model")
    assert sample(model, vocab, prime="the q", length=26, temperature=0) == (PATTERN * 3)[5:5 + 26]
    warm = sample(model, vocab, prime="the", length=3 * len(PATTERN), temperature=0.5, seed=3)
    assert ("the" + warm).startswith(PATTERN * 3)


def test_sample_cli(pattern_run):
    out = CliRunner().invoke(main, ["sample", "--model", str(pattern_run), "--prime", "the quick",
                                    "--length", "5", "--temperature", "0"])
    assert out.exit_code == 0, out.output
    assert out.output == "the quick fox\n\n"  # prime + " fox\n" + echo's newline


def test_word_sampling_renders_eos_as_newline():
    vocab = Vocabulary.build("word", ["a b c"])
    model = tiny_model("rnn", layers=1, vocab=len(vocab))
    with torch.no_grad():
        model.decoder.bias.fill_(-50.0)
        model.decoder.bias[vocab.eos_id] = 50.0  # always <eos>
    assert sample(model, vocab, prime="a", length=3, temperature=0) == "\n\n\n"


def test_no_unk_never_generates_unk():
    vocab = Vocabulary.build("word", ["a b c"])
    model = tiny_model("rnn", layers=1, vocab=len(vocab))
    with torch.no_grad():
        model.decoder.bias.fill_(-50.0)
        model.decoder.bias[vocab.unk_id] = 50.0  # <unk> almost surely, then "b"
        model.decoder.bias[vocab.stoi["b"]] = 40.0
    assert sample(model, vocab, prime="a", length=4, temperature=1.0, seed=0) == "<unk> " * 3 + "<unk>"
    assert sample(model, vocab, prime="a", length=4, temperature=1.0, seed=0,
                  exclude=[vocab.unk_id]) == "b b b b"
    assert sample(model, vocab, prime="a", length=2, temperature=0, exclude=[vocab.unk_id]) == "b b"


def test_evaluate_cli_reports_unknown_share(pattern_run, tmp_path):
    (tmp_path / "t.txt").write_text("the quick fox\nthe quick zzz\n")
    out = CliRunner().invoke(main, ["evaluate", "--model", str(pattern_run), "--corpus",
                                    str(tmp_path / "t.txt"), "--threads", "1", "--no-progress"])
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("bpc ") and "of the tokens are <unk>" in out.stderr
