"""The adaptive-softmax output layer: exact log-probabilities everywhere the decoder was read."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnscope.agreement import ablation_sweep, generate, load_wordpools, reference_sweep, score
from rnnscope.checkpoint import load_native, save_model
from rnnscope.errors import RnnscopeError
from rnnscope.interventions import ablate_outgoing, run_stepwise
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.training import TrainConfig, train_lm
from tests.test_ablation import na_vocab


def adaptive_model(vocab_size: int, hidden: int = 12, layers: int = 2, seed: int = 0) -> RecurrentLM:
    torch.manual_seed(seed)
    model = RecurrentLM(ModelConfig(vocab_size=vocab_size, emb_dim=8, hidden_size=hidden,
                                    num_layers=layers, output="adaptive",
                                    adaptive_cutoffs=(10, 40), adaptive_div=2.0))
    with torch.no_grad():  # larger weights so that the scores differ clearly between words
        for p in model.adaptive.parameters():
            p.mul_(4.0)
    return model.eval()


def test_scores_are_exact_log_probabilities():
    model = adaptive_model(100)
    tokens = torch.randint(0, 100, (3, 7))
    with torch.no_grad():
        logits, _ = model(tokens)
        # a distribution: exp sums to one at every position
        np.testing.assert_allclose(logits.exp().sum(-1).numpy(), 1.0, atol=1e-5)
        x, _ = model.forward_hidden(tokens)
        flat = x.reshape(-1, x.shape[-1])
        ids = torch.randint(0, 100, (flat.shape[0],))
        direct = model.token_log_probs(flat, ids)
        expected = logits.reshape(-1, 100).gather(1, ids[:, None])[:, 0]
        np.testing.assert_allclose(direct.numpy(), expected.numpy(), atol=1e-5)
        # the subset scores of ids in the head and in both tail clusters
        pick = torch.tensor([3, 15, 77])
        np.testing.assert_allclose(model.token_scores(x, pick).numpy(), logits[..., pick].numpy(),
                                   atol=1e-5)
        # training loss == mean NLL of the exact distribution
        targets = torch.randint(0, 100, (3, 7))
        nll = -logits.reshape(-1, 100).gather(1, targets.reshape(-1, 1)).mean()
        assert model.loss(x, targets).item() == pytest.approx(nll.item(), rel=1e-5)


def test_bad_adaptive_settings_are_refused():
    with pytest.raises(RnnscopeError, match="cutoffs"):
        ModelConfig(vocab_size=50, output="adaptive", adaptive_cutoffs=(40, 10))
    with pytest.raises(RnnscopeError, match="tying"):
        ModelConfig(vocab_size=50, emb_dim=8, hidden_size=8, output="adaptive", tie_weights=True,
                    adaptive_cutoffs=(10,))
    with pytest.raises(RnnscopeError, match="output layer"):
        ModelConfig(vocab_size=50, output="sampled")


def test_agreement_and_ablation_on_an_adaptive_model():
    """Batched sweep == one unit at a time, both comparing exact verb log-probabilities."""
    pools = load_wordpools()
    vocab = na_vocab(pools)
    model = adaptive_model(len(vocab))
    items = generate(["Simple", "NounPP"], n=2, seed=1)
    clean = score(model, vocab, items)
    # the clean margin is log p(correct) - log p(wrong) of the full distribution
    it = clean.items.iloc[0]
    item = items[0]
    ids = torch.tensor([[vocab.eos_id] + vocab.encode(item.prefix)])  # <eos> starts a sentence
    with torch.no_grad():
        logits, _ = model(ids)
    lp = logits[0, -1]
    want = lp[vocab.stoi[item.correct]] - lp[vocab.stoi[item.wrong]]
    assert it["logit_diff"] == pytest.approx(want.item(), abs=1e-4)
    res = ablation_sweep(model, vocab, items, mode="h", max_rows=5, progress=False)
    for layer in (1, 2):
        ref = reference_sweep(model, vocab, items, layer, list(range(12)), mode="h")
        got = res.diffs[(res.units["layer"] == layer).to_numpy()]
        np.testing.assert_allclose(got, ref, atol=1e-4)
    assert np.abs(res.diffs - res.full.items["logit_diff"].to_numpy()).max() > 1e-3
    # outgoing-weight ablation of a top-layer unit == holding its h at zero
    out = ablation_sweep(model, vocab, items, mode="outgoing", layers=[2], units=[4], progress=False)
    by_weights = score(ablate_outgoing(model, 2, [4]), vocab, items)
    np.testing.assert_allclose(out.diffs[0], by_weights.items["logit_diff"], atol=1e-4)
    logits_sw, _ = run_stepwise(model, ids)
    np.testing.assert_allclose(logits_sw.detach().numpy(), logits.numpy(), atol=1e-5)


def test_training_and_float16_round_trip(tmp_path):
    words = ["the cat sat on the mat", "a dog ran to the cat", "the dogs ran", "a mat sat"] * 60
    (tmp_path / "train.txt").write_text("\n".join(words) + "\n")
    (tmp_path / "valid.txt").write_text("\n".join(words[:8]) + "\n")
    result = train_lm(TrainConfig(out=str(tmp_path / "run"), corpus_train=str(tmp_path / "train.txt"),
                                  corpus_valid=str(tmp_path / "valid.txt"), hidden=16, emb=8,
                                  layers=2, output="adaptive", adaptive_cutoffs=(4, 8),
                                  min_count=2, bptt=8, batch_size=4, epochs=2, progress=False))
    m = result.metrics
    assert m["history"][-1]["valid_loss"] < math.log(len(result.vocab))  # learned something
    model, vocab = load_native(tmp_path / "run" / "model")
    assert model.config.output == "adaptive" and model.config.adaptive_cutoffs == (4, 8)
    from rnnscope.recipes.runner import _cast_weights

    save_model(model, vocab, tmp_path / "half")
    _cast_weights(tmp_path / "half" / "model.safetensors", "float16")
    half, _ = load_native(tmp_path / "half")
    tokens = torch.tensor([vocab.encode("the cat sat".split())])
    with torch.no_grad():
        a, _ = model(tokens)
        b, _ = half(tokens)
    assert all(p.dtype == torch.float32 for p in half.parameters())
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-2)
