"""Training: learning, exact resume, early stopping / lr decay, metrics, bad input."""
from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from rnnscope.checkpoint import load_model
from rnnscope.cli import main
from rnnscope.errors import CorpusError, RnnscopeError
from rnnscope.training import TrainConfig, train_lm
from rnnscope.training.data import batchify, encode_text, num_windows, split_text, windows
from rnnscope.vocab import Vocabulary




def _texts(tmp_path, train="abcdefgh\n" * 120, valid="abcdefgh\n" * 12):
    (tmp_path / "train.txt").write_text(train)
    (tmp_path / "valid.txt").write_text(valid)
    return str(tmp_path / "train.txt"), str(tmp_path / "valid.txt")


def _config(tmp_path, out="run", **kw):
    tr, va = _texts(tmp_path)
    base = dict(out=str(tmp_path / out), corpus_train=tr, corpus_valid=va, level="char",
                hidden=24, emb=8, bptt=10, batch_size=4, epochs=2, lr=1e-2, dropout=0.3,
                seed=7, progress=False, save_every=5)
    base.update(kw)
    return TrainConfig(**base)


def _weights(run_dir):
    return load_file(str(run_dir / "checkpoint" / "model" / "model.safetensors"))


def test_batchify_and_windows_cover_the_stream_in_order():
    stream = torch.arange(23)
    data = batchify(stream, 3)  # 3 rows of 7, tail of 2 dropped
    assert data.tolist()[1] == list(range(7, 14))
    got = list(windows(data, 4))
    assert len(got) == num_windows(data, 4) == 2
    x, y = got[1]
    assert x[:, 0].tolist() == [4, 11, 18] and torch.equal(y, data[:, 5:7])
    assert torch.equal(torch.cat([w[0] for w in got], 1), data[:, :-1])


def test_word_stream_ends_lines_with_eos_and_char_keeps_newlines():
    v = Vocabulary.build("word", ["a b", "b"])
    assert encode_text("a b\nb\n", v).tolist() == [v.stoi["a"], v.stoi["b"], v.eos_id, v.stoi["b"], v.eos_id]
    c = Vocabulary.build("char", ["ab\n"])
    assert c.decode(encode_text("ab\nb", c).tolist()) == "ab\nb"
    head, tail = split_text("l1\nl2\nl3\nl4\n", 0.25)
    assert head + tail == "l1\nl2\nl3\nl4\n" and tail == "l4\n"


def test_training_learns_a_deterministic_pattern(tmp_path):
    result = train_lm(_config(tmp_path, epochs=6, dropout=0.0))
    hist = result.history
    assert hist[-1]["valid_loss"] < 0.25 * hist[0]["train_loss"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["metric"] == "bpc"
    assert metrics["valid_bpc"] == pytest.approx(metrics["valid_loss"] / math.log(2))
    assert metrics["valid_bpc"] < 0.5  # the pattern is fully predictable
    model, vocab = load_model(tmp_path / "run" / "model")
    assert vocab.kind == "char" and model.config.hidden_size == 24


def test_resume_after_epoch_equals_straight_run(tmp_path):
    train_lm(_config(tmp_path, "straight", epochs=2))
    train_lm(_config(tmp_path, "resumed", epochs=1))
    train_lm(_config(tmp_path, "resumed", epochs=2, resume=True))
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ha = json.loads((tmp_path / "straight" / "metrics.json").read_text())["history"]
    hb = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["history"]
    assert [h["valid_loss"] for h in ha] == [h["valid_loss"] for h in hb]


def test_resume_mid_epoch_equals_straight_run(tmp_path):
    """Interrupted after 13 batches (a mid-epoch checkpoint with carried state, dropout RNG)."""
    train_lm(_config(tmp_path, "straight", epochs=2))
    stopped = train_lm(_config(tmp_path, "resumed", epochs=2, stop_after=13))
    assert stopped.interrupted and not (tmp_path / "resumed" / "metrics.json").exists()
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "train_state.json").read_text())
    assert state["step"] == 13 and state["epoch"] == 0
    train_lm(_config(tmp_path, "resumed", epochs=2, resume=True))
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_early_stopping_and_lr_decay(tmp_path):
    """Validation text of unseen characters only gets worse: stop after `patience` bad epochs."""
    tr, _ = _texts(tmp_path)
    (tmp_path / "bad_valid.txt").write_text("xyz" * 50)
    result = train_lm(_config(tmp_path, corpus_valid=str(tmp_path / "bad_valid.txt"), epochs=6,
                              patience=2, lr_decay=0.5, lr=1e-2))
    hist = result.history
    assert len(hist) == 3  # best at epoch 1, then two worse epochs
    assert [h["lr"] for h in hist] == pytest.approx([1e-2, 1e-2, 5e-3])
    assert result.metrics["best_epoch"] == 1


def test_bf16_training_runs_and_stays_fp32(tmp_path):
    """bf16 where the CPU has it, float32 with a notice where it has not; never a crash."""
    from rnnscope.training.precision import cpu_bf16_supported

    messages: list[str] = []
    result = train_lm(_config(tmp_path, epochs=1, bf16=True), log=messages.append)
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert math.isfinite(result.metrics["valid_loss"])
    assert result.metrics["bf16_used"] is cpu_bf16_supported()
    notices = [m for m in messages if "no bfloat16 support" in m]
    assert len(notices) == (0 if cpu_bf16_supported() else 1)


def test_bf16_falls_back_when_the_cpu_lacks_it(tmp_path, monkeypatch):
    """A CPU without bf16 (simulated) trains in float32 and says so once."""
    from rnnscope.training import precision

    monkeypatch.setattr(precision, "cpu_bf16_supported", lambda: False)
    messages: list[str] = []
    result = train_lm(_config(tmp_path, epochs=1, bf16=True), log=messages.append)
    assert result.metrics["bf16_used"] is False
    assert sum("no bfloat16 support" in m for m in messages) == 1


def test_word_level_valid_fraction_and_test_perplexity(tmp_path):
    lines = "\n".join(["the cat sat", "the dog ran", "a cat ran"] * 40) + "\n"
    (tmp_path / "words.txt").write_text(lines)
    (tmp_path / "test.txt").write_text("the cat ran\n")
    result = train_lm(TrainConfig(out=str(tmp_path / "w"), corpus_train=str(tmp_path / "words.txt"),
                                  valid_fraction=0.1, corpus_test=str(tmp_path / "test.txt"),
                                  level="word", hidden=16, emb=8, bptt=5, batch_size=2, epochs=1,
                                  max_vocab=5, progress=False))
    assert len(result.vocab) == 5  # 3 most frequent words + <unk> + <eos>
    m = result.metrics
    assert m["metric"] == "ppl" and m["test_ppl"] == pytest.approx(math.exp(m["test_loss"]))
    out = CliRunner().invoke(main, ["evaluate", "--model", str(tmp_path / "w"),
                                    "--corpus", str(tmp_path / "test.txt")])
    assert out.exit_code == 0, out.output
    assert float(out.output.split()[1]) == pytest.approx(m["test_ppl"], rel=1e-3)


def test_cli_train_and_resume_flags(tmp_path):
    tr, va = _texts(tmp_path)
    args = ["train", "--corpus-train", tr, "--corpus-valid", va, "--level", "byte", "--hidden", "16",
            "--emb", "8", "--bptt", "10", "--batch-size", "4", "--epochs", "1", "--no-progress",
            "--out", str(tmp_path / "cli")]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert "valid bpc" in out.output
    more = CliRunner().invoke(main, ["train", "--resume", "--epochs", "2", "--out", str(tmp_path / "cli"),
                                     "--no-progress"])
    assert more.exit_code == 0, more.output
    assert len(json.loads((tmp_path / "cli" / "metrics.json").read_text())["history"]) == 2


@pytest.mark.parametrize("problem", ["missing", "empty", "no_resume", "tie_mismatch"])
def test_bad_input_is_one_line_exit_2(tmp_path, problem):
    tr, va = _texts(tmp_path)
    (tmp_path / "empty.txt").write_text("  \n")
    args = {"missing": ["--corpus-train", str(tmp_path / "nope.txt"), "--corpus-valid", va],
            "empty": ["--corpus-train", str(tmp_path / "empty.txt"), "--corpus-valid", va],
            "no_resume": ["--resume"],
            "tie_mismatch": ["--corpus-train", tr, "--corpus-valid", va, "--tie", "--emb", "8"]}[problem]
    out = CliRunner().invoke(main, ["train", "--out", str(tmp_path / "o"), "--hidden", "16", *args])
    assert out.exit_code == 2
    assert out.output.startswith("error: ") and out.output.count("\n") == 1, out.output


def test_empty_corpus_error_names_the_file(tmp_path):
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(CorpusError, match="empty.txt"):
        train_lm(_config(tmp_path, corpus_train=str(tmp_path / "empty.txt")))
    with pytest.raises(RnnscopeError, match="--corpus-valid or --valid-fraction"):
        train_lm(_config(tmp_path, corpus_valid=None))


def test_cli_resume_keeps_the_saved_settings(tmp_path):
    """A 2-epoch run resumed without --epochs stays a 2-epoch run (not the CLI default of 10)."""
    tr, va = _texts(tmp_path)
    run = tmp_path / "r"
    train_lm(_config(tmp_path, out="r", epochs=2, stop_after=3))
    out = CliRunner().invoke(main, ["train", "--resume", "--out", str(run), "--no-progress"])
    assert out.exit_code == 0, out.output
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert len(history) == 2
    assert json.loads((run / "train_config.json").read_text())["epochs"] == 2


def test_resume_refuses_a_changed_corpus(tmp_path):
    train_lm(_config(tmp_path, out="r", stop_after=3))
    (tmp_path / "train.txt").write_text("hgfedcba\n" * 120)  # same size, other text
    out = CliRunner().invoke(main, ["train", "--resume", "--out", str(tmp_path / "r"), "--no-progress"])
    assert out.exit_code == 2 and "corpus changed" in out.output and "--corpus-train" in out.output
    ok = CliRunner().invoke(main, ["train", "--resume", "--allow-corpus-change", "--out",
                                   str(tmp_path / "r"), "--no-progress"])
    assert ok.exit_code == 0, ok.output


def test_a_crash_inside_the_checkpoint_swap_loses_nothing(tmp_path, monkeypatch):
    """Killed between writing the new copy and swapping the link: resume finds the newest copy
    and ends with the same weights as the uninterrupted run."""
    import os

    from rnnscope.training import state

    full = train_lm(_config(tmp_path, out="full"))
    real_replace = os.replace
    calls = {"n": 0}

    def crash_on_link_swap(src, dst):
        if str(dst).endswith("/checkpoint") and str(src).rsplit("/", 1)[-1].startswith(".checkpoint-link"):
            calls["n"] += 1
            if calls["n"] == 2:  # the second checkpoint swap never happens
                raise KeyboardInterrupt("killed")
        return real_replace(src, dst)

    monkeypatch.setattr(state.os, "replace", crash_on_link_swap)
    with pytest.raises(KeyboardInterrupt):
        train_lm(_config(tmp_path, out="cut"))
    monkeypatch.setattr(state.os, "replace", real_replace)
    newest = state.find_checkpoint(tmp_path / "cut")
    assert newest is not None and newest.name.startswith(".ckpt-")  # the link still names the older copy
    resumed = train_lm(_config(tmp_path, out="cut", resume=True))
    for k, v in full.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[k], v)


def test_sigkill_during_training_then_resume_gives_the_uninterrupted_model(tmp_path):
    """A real SIGKILL of `rnnscope train` (a checkpoint every batch, so the kill often lands
    inside a checkpoint write or swap), then `--resume`: the same weights as an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    tr, va = _texts(tmp_path, train="abcdefghij\n" * 400)
    args = ["--corpus-train", tr, "--corpus-valid", va, "--level", "char", "--hidden", "24",
            "--emb", "8", "--bptt", "10", "--batch-size", "4", "--epochs", "3", "--save-every", "1",
            "--seed", "7", "--threads", "1", "--no-progress"]
    full = train_lm(TrainConfig(out=str(tmp_path / "full"), corpus_train=tr, corpus_valid=va,
                                level="char", hidden=24, emb=8, bptt=10, batch_size=4, epochs=3,
                                save_every=1, seed=7, progress=False))
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-c", "from rnnscope.cli import main; main()", "train",
                             *args, "--out", str(cut)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (cut / "checkpoint").exists():
        time.sleep(0.05)
    time.sleep(0.25)  # a few batches in (2 epochs once ended within 0.7 s of the first checkpoint)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (cut / "metrics.json").exists()  # killed before the end
    out = CliRunner().invoke(main, ["train", "--resume", "--out", str(cut), "--no-progress"])
    assert out.exit_code == 0, out.output
    resumed, _ = load_model(cut / "model")
    for k, v in full.model.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v)


def test_init_from_continues_from_the_models_weights_and_vocabulary(tmp_path):
    """--init-from: the first weights are the saved model's (float16 upcast), its vocabulary
    encodes the new text, the architecture flags yield to the model's, training goes on."""
    from rnnscope.checkpoint import save_model

    first = train_lm(_config(tmp_path, "first", epochs=1, dropout=0.0))
    half = tmp_path / "half"
    save_model(first.model.half(), first.vocab, half)
    said = []
    cont = _config(tmp_path, "cont", epochs=1, hidden=99, emb=5, init_from=str(half), lr=1e-9,
                   dropout=0.0)
    result = train_lm(cont, log=said.append)
    assert any("ignored --hidden 99" in m for m in said), said
    assert result.model.config.hidden_size == 24 and result.vocab.itos == first.vocab.itos
    saved, _ = load_model(half)
    for (name, a), b in zip(saved.state_dict().items(), result.model.state_dict().values()):
        assert b.dtype == torch.float32, name
        assert torch.allclose(a.float(), b, atol=1e-6), name  # lr 1e-9: the weights barely move
    moved = train_lm(_config(tmp_path, "moved", epochs=1, init_from=str(half), dropout=0.0))
    assert not torch.allclose(moved.model.encoder.weight, saved.encoder.weight.float())
    assert moved.history[0]["train_loss"] < first.history[0]["train_loss"]  # it starts trained


def test_init_from_refuses_another_level_and_embeddings(tmp_path):
    first = train_lm(_config(tmp_path, "first", epochs=1))
    with pytest.raises(RnnscopeError, match="char-level model but --level is byte"):
        train_lm(_config(tmp_path, "x", level="byte", init_from=str(tmp_path / "first")))
    with pytest.raises(RnnscopeError, match="--init-from or --embeddings"):
        _config(tmp_path, "y", init_from=str(tmp_path / "first"), embeddings="e.txt").validate()
    assert first.metrics


def test_cli_trains_a_projected_lstm(tmp_path):
    tr, va = _texts(tmp_path)
    args = ["train", "--corpus-train", tr, "--corpus-valid", va, "--level", "char", "--cell",
            "lstm_proj", "--hidden", "12", "--proj-size", "5", "--emb", "6", "--bptt", "10",
            "--batch-size", "4", "--epochs", "1", "--no-progress", "--out", str(tmp_path / "p")]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    model, _ = load_model(tmp_path / "p" / "model")
    assert (model.config.cell, model.config.hidden_size, model.config.proj_size) == ("lstm_proj", 12, 5)
    bad = CliRunner().invoke(main, args[:-1] + [str(tmp_path / "q")] + ["--proj-size", "12"])
    assert bad.exit_code == 2 and "0 < proj_size" in bad.output
