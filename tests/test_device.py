"""``--device`` / ``device=``: the same numbers on every device this machine has.

Each check runs on the CPU and, where PyTorch sees one, on CUDA (and MPS), against the CPU
result; devices that are absent are skipped with the reason.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rnnscope.agreement import ablation_sweep, generate, load_wordpools
from rnnscope.agreement.patching import patch_sweep
from rnnscope.analysis.gradients import state_gradient_sums
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.device import available_devices, model_device, resolve_device
from rnnscope.errors import RnnscopeError
from rnnscope.extract import extract
from rnnscope.training import TrainConfig, train_lm
from tests.conftest import tiny_model
from tests.test_ablation import na_vocab

DEVICES = [pytest.param(d, marks=pytest.mark.skipif(d not in available_devices(),
                                                    reason=f"no {d} device on this machine"))
           for d in ("cpu", "cuda", "mps")]


def test_resolve_device_names_and_errors():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in available_devices()
    with pytest.raises(RnnscopeError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RnnscopeError, match="PyTorch sees no CUDA GPU here"):
            resolve_device("cuda")
    else:
        with pytest.raises(RnnscopeError, match="numbered from 0"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("device", DEVICES)
def test_agreement_sweeps_and_gradients_match_the_cpu(device):
    pools = load_wordpools()
    vocab = na_vocab(pools)
    items = generate(["Simple", "NounPP"], n=2, seed=4)
    cpu = tiny_model("lstm", layers=2, hidden=12, vocab=len(vocab), emb=8, seed=3)
    dev = tiny_model("lstm", layers=2, hidden=12, vocab=len(vocab), emb=8, seed=3).to(device)
    assert model_device(dev).type == device
    a = ablation_sweep(cpu, vocab, items, mode="both", progress=False)
    b = ablation_sweep(dev, vocab, items, mode="both", progress=False)
    np.testing.assert_allclose(b.diffs, a.diffs, atol=1e-4)
    pa = patch_sweep(cpu, vocab, items, mode="h")
    pb = patch_sweep(dev, vocab, items, mode="h")
    np.testing.assert_allclose(pb.table["flip_rate"], pa.table["flip_rate"])
    tokens = [torch.randint(0, len(vocab), (9,), generator=torch.Generator().manual_seed(0))]
    ga = state_gradient_sums(cpu, tokens, "layer2.c", 3, progress=False)
    gb = state_gradient_sums(dev, tokens, "layer2.c", 3, progress=False)
    np.testing.assert_allclose(gb.all_sum, ga.all_sum, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_extract_and_train_on_the_device(tmp_path, device):
    from rnnscope.vocab import Vocabulary

    vocab = Vocabulary.build("word", ["a b c d e f g"])
    model = tiny_model("gru", layers=2, hidden=6, vocab=len(vocab), emb=4, seed=1)
    corpus = Corpus([Sentence(list("abc")), Sentence(list("gfed"))], name="toy")
    on_cpu = extract(model, vocab, corpus, tmp_path / "cpu", progress=False)
    on_dev = extract(model.to(device), vocab, corpus, tmp_path / "dev", progress=False)
    np.testing.assert_allclose(on_dev.get("layer2.r"), on_cpu.get("layer2.r"), atol=1e-3)
    text = tmp_path / "t.txt"
    text.write_text("a b c d e f g\n" * 40)
    res = train_lm(TrainConfig(corpus_train=str(text), valid_fraction=0.2, hidden=8, emb=4,
                               epochs=1, batch_size=4, bptt=5, out=str(tmp_path / "run"),
                               progress=False), device=device)
    assert np.isfinite(res.metrics["valid_loss"])


def test_cli_device_option(tmp_path):
    from rnnscope.vocab import Vocabulary

    vocab = Vocabulary.build("word", ["the boy greets the girl"])
    save_model(tiny_model("lstm", layers=1, hidden=6, vocab=len(vocab), emb=4), vocab, tmp_path / "m")
    (tmp_path / "t.txt").write_text("the boy greets the girl\n" * 5)
    ok = CliRunner().invoke(main, ["evaluate", "--model", str(tmp_path / "m"), "--corpus",
                                   str(tmp_path / "t.txt"), "--device", "cpu", "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert "ppl" in ok.output
    if not torch.cuda.is_available():
        bad = CliRunner().invoke(main, ["evaluate", "--model", str(tmp_path / "m"), "--corpus",
                                        str(tmp_path / "t.txt"), "--device", "cuda"])
        assert bad.exit_code == 2 and "no CUDA GPU" in bad.output
    grads = ["gradients", "--model", str(tmp_path / "m"), "--corpus", str(tmp_path / "t.txt"),
             "--max-delay", "2", "--window", "5"]
    ok = CliRunner().invoke(main, grads + ["--device", "cpu"])
    assert ok.exit_code == 0 and "sigma1" in ok.output, ok.output
    both = CliRunner().invoke(main, grads + ["--device", "cuda", "--workers", "2"])
    assert both.exit_code == 2 and "the Dask path runs on the workers' CPUs" in both.output


@pytest.mark.parametrize("device", DEVICES)
def test_probe_solvers_match_the_cpu(device):
    """The sparse (FISTA) and dense (L-BFGS) probe solvers, concept neurons with the raw
    ranking and a dev split, on the device: the CPU's weights within float32 noise. (On the
    CPU, "cpu:0" runs the solver under the same device context a GPU gets.)"""
    from rnnscope.analysis.concepts import concept_neurons
    from rnnscope.analysis.sparse_logreg import LinearProbe

    device = "cpu:0" if device == "cpu" else device

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 12)).astype(np.float32) * np.linspace(0.5, 5, 12, dtype=np.float32)
    y = np.where(X[:, 3] > 0, "A", np.where(X[:, 7] > 1, "B", "C"))
    for penalty, multi in (("l1", "ovr"), ("l2", "softmax")):
        cpu = LinearProbe(C=0.5, penalty=penalty, multi=multi).fit(X, y)
        dev = LinearProbe(C=0.5, penalty=penalty, multi=multi, device=device).fit(X, y)
        np.testing.assert_allclose(dev.coef_, cpu.coef_, atol=2e-3)
    a = concept_neurons(X, y, k=2, rank="raw", split="80/10/10")
    b = concept_neurons(X, y, k=2, rank="raw", split="80/10/10", device=device)
    np.testing.assert_allclose(b.table["accuracy"], a.table["accuracy"], atol=1e-6)
    assert a.top_units("A")[0] == b.top_units("A")[0] == 3


def test_the_device_reaches_the_probe_solver(monkeypatch):
    """probe/concepts pass device= down to the solver (on a CPU-only machine this is what can
    be checked: the solver is asked for the device the caller named)."""
    from contextlib import nullcontext

    from rnnscope.analysis import sparse_logreg
    from rnnscope.analysis.concepts import concept_neurons
    from rnnscope.analysis.probe import probe_arrays

    asked = []
    monkeypatch.setattr(sparse_logreg, "_on", lambda d: asked.append(d) or nullcontext())
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    y = np.where(X[:, 0] > 0, "A", "B")
    concept_neurons(X, y, k=1, device="cuda:1")
    probe_arrays({"layer1.h": X}, list(y), device="cuda:1")
    assert asked and set(asked) == {"cuda:1"}


def test_cli_device_on_probe_concepts_and_report(tmp_path):
    """probe, concepts and report take --device (cpu here; a missing GPU is one clear line)."""
    from rnnscope.corpus.generated import agreement_conllu
    from rnnscope.corpus.readers import read_corpus
    from rnnscope.vocab import Vocabulary

    conllu = tmp_path / "c.conllu"
    conllu.write_text(agreement_conllu(n=6, seed=0), encoding="utf-8")
    corpus = read_corpus(conllu)
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in corpus])
    save_model(tiny_model("lstm", layers=1, hidden=8, vocab=len(vocab), emb=4), vocab, tmp_path / "m")
    run = CliRunner().invoke
    ok = run(main, ["extract", "--model", str(tmp_path / "m"), "--corpus", str(conllu), "--out",
                    str(tmp_path / "s"), "--no-progress", "--device", "cpu"])
    assert ok.exit_code == 0, ok.output
    for cmd in (["probe", str(tmp_path / "s"), "--feature", "upos", "--no-control"],
                ["concepts", str(tmp_path / "s"), "--feature", "upos", "--k", "1"]):
        ok = run(main, cmd + ["--device", "cpu"])
        assert ok.exit_code == 0, ok.output
        assert "NOUN" in ok.output or "accuracy" in ok.output, ok.output
        if not torch.cuda.is_available():
            bad = run(main, cmd + ["--device", "cuda"])
            assert bad.exit_code == 2 and "no CUDA GPU" in bad.output, bad.output
    rep = run(main, ["report", "--model", str(tmp_path / "m"), "--corpus", str(conllu), "--out",
                     str(tmp_path / "r.html"), "--device", "cpu", "--units", "1"])
    assert rep.exit_code == 0 and (tmp_path / "r.html").stat().st_size > 1000, rep.output
