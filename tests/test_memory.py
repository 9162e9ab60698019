"""Memory metrics: normalisation closed form, analytic SVD metrics of a linear RNN, fits, d-vectors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnscope.analysis.gradients import ALL
from rnnscope.analysis.memory import (class_words, compare_memory, difference_vector, embedding_cholesky,
                                      memory, separability, spectrum_metrics)
from rnnscope.errors import RnnscopeError
from rnnscope.model import ModelConfig, RecurrentLM

W_HAND = np.array([[2.0, 1.0], [0.0, 1.0], [-2.0, -2.0], [0.0, 0.0]])  # column means are 0


def test_cholesky_matches_closed_form():
    # cov = 1/4 * [[8, 6], [6, 6]] = [[2, 1.5], [1.5, 1.5]]
    D = embedding_cholesky(W_HAND)
    expected = np.array([[np.sqrt(2), 0.0], [1.5 / np.sqrt(2), np.sqrt(1.5 - 1.125)]])
    np.testing.assert_allclose(D, expected, rtol=1e-12)
    Z = np.linalg.inv(D)
    g = (W_HAND - W_HAND.mean(0)) @ Z.T  # normalised embeddings have identity covariance
    np.testing.assert_allclose(g.T @ g / len(g), np.eye(2), atol=1e-12)
    # a shifted copy gives the same D (mean-centred)
    np.testing.assert_allclose(embedding_cholesky(W_HAND + 3.0), expected, rtol=1e-12)


def test_singular_covariance_is_a_clear_error():
    with pytest.raises(RnnscopeError, match="covariance is singular"):
        embedding_cholesky(np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]))


def _linear_rnn(rho=0.7, E=3, H=5, V=8, seed=0):
    """An Elman RNN whose ReLU never clips (pre-activations stay positive): exactly linear gradients."""
    g = torch.Generator().manual_seed(seed)
    model = RecurrentLM(ModelConfig(vocab_size=V, cell="rnn_relu", emb_dim=E, hidden_size=H)).double()
    layer = model.layers[0]
    Q = torch.eye(H, dtype=torch.float64)[torch.randperm(H, generator=g)]  # orthogonal and >= 0
    with torch.no_grad():
        layer.weight_hh_l0.copy_(rho * Q)
        layer.weight_ih_l0.copy_(torch.randn(H, E, generator=g, dtype=torch.float64))
        layer.bias_ih_l0.fill_(20.0)
        layer.bias_hh_l0.zero_()
        model.encoder.weight.copy_(torch.randn(V, E, generator=g, dtype=torch.float64))
    return model.eval()


def test_linear_rnn_metrics_match_analytic():
    rho, T = 0.7, 6
    model = _linear_rnn(rho)
    seqs = [torch.randint(0, 8, (n,), generator=torch.Generator().manual_seed(n)) for n in (12, 9, 15)]
    with torch.no_grad():
        _, rec, _ = model.run_with_states(torch.cat(seqs)[None])
    assert bool((rec["layer1.h"] > 0).all())  # the ReLU is in its linear regime everywhere
    W_ih = model.layers[0].weight_ih_l0.detach().numpy()
    W_hh = model.layers[0].weight_hh_l0.detach().numpy()
    D = embedding_cholesky(model.encoder.weight.detach().numpy())
    for basis, R in (("normalised", D), ("raw", np.eye(3))):
        res = memory(model, seqs, "layer1.h", T, basis=basis)
        tab = res.table.set_index("delay")
        for tau in range(T + 1):
            G = np.linalg.matrix_power(W_hh, tau) @ W_ih @ R
            np.testing.assert_allclose(res.matrix(ALL, tau), G, rtol=1e-9, atol=1e-12)
            m = spectrum_metrics(np.linalg.svd(G, compute_uv=False))
            for k in ("sigma1", "sigma_sum", "ratio1", "ratio5"):
                assert tab.loc[tau, k] == pytest.approx(float(m[k]), rel=1e-9)
    # sigma1 decays exactly as rho**tau: the exponential fit recovers b = -ln(rho)
    fit = res.fit_decay([ALL]).table.iloc[0]
    assert fit.b == pytest.approx(-np.log(rho), rel=1e-4)
    # the best-remembered direction has relative memory 1 and cosine 1
    _, _, Vt = res.svd(ALL, 2)
    pm = res.property_memory(Vt[0]).set_index("delay")
    assert pm.loc[2, "m"] == pytest.approx(1.0) and pm.loc[2, "cos1"] == pytest.approx(1.0)
    # a direction with a known share: d = (v1 + v2)/sqrt2 at delay 2 -> m = |(s1 u1 + s2 u2)|/sqrt2/s1
    U, S, Vt = np.linalg.svd(res.matrix(ALL, 2))
    d = (Vt[0] + Vt[1]) / np.sqrt(2)
    pm = res.property_memory(d, n=(1, 2)).set_index("delay")
    assert pm.loc[2, "m"] == pytest.approx(np.hypot(S[0], S[1]) / np.sqrt(2) / S[0])
    assert pm.loc[2, "cos1"] == pytest.approx(1 / np.sqrt(2)) and pm.loc[2, "cos2"] == pytest.approx(1.0)


def test_groups_unknown_group_and_comparison():
    model = _linear_rnn()
    seqs = [torch.tensor([1, 2, 3, 1, 2, 3, 4, 5])]
    labels = [["a", "b", None, "a", "b", None, "c", "c"]]
    res = memory(model, seqs, "layer1.h", 3, labels, basis="raw")
    assert set(res.groups) == {ALL, "a", "b", "c"}
    assert list(res.counts["a"]) == [2, 2, 2, 2] and list(res.counts["c"]) == [2, 1, 0, 0]
    assert np.isnan(res.spectra["c"][2]).all()
    with pytest.raises(RnnscopeError, match="'zz' has no tokens"):
        res.matrix("zz", 0)
    # linear model: every group's mean equals the analytic matrix
    np.testing.assert_allclose(res.matrix("a", 1), res.matrix(ALL, 1), rtol=1e-9)
    comp = compare_memory({"x": res, "y": memory(_linear_rnn(0.3), seqs, "layer1.h", 3, basis="raw")})
    t = comp.table
    assert set(t.name) == {"x", "y"} and len(t) == 8
    assert comp.plot() is not None and res.plot(["a", "b"]) is not None


def test_word_type_spectra_only_and_frequency_relation():
    model = _linear_rnn(0.6)
    g = torch.Generator().manual_seed(5)
    seqs = [torch.randint(0, 8, (30,), generator=g) for _ in range(3)]
    labels = [[int(x) for x in s] for s in seqs]
    res = memory(model, seqs, "layer1.h", 5, labels, keep_matrices=False, frequencies={k: 10 ** k for k in range(8)})
    assert list(res.means) == [ALL]
    fit = res.fit_decay()
    assert np.allclose(fit.table.b, -np.log(0.6), rtol=1e-3)
    rel = fit.relation("b", bins=[0, 0.4, 1.0])
    assert np.allclose(rel.sum(axis=1), 100)


def test_difference_vector_and_separability():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(40, 4))
    W[:20, 0] += 4.0  # class a shifted along dim 0
    d = difference_vector(W, range(20), range(20, 40))
    assert abs(d[0]) > 0.9 and np.linalg.norm(d) == pytest.approx(1)
    Z = np.diag([2.0, 1, 1, 1])
    dz = difference_vector(W, range(20), range(20, 40), Z)
    np.testing.assert_allclose(dz, Z @ d / np.linalg.norm(Z @ d))  # unit length in the Z space
    assert np.linalg.norm(dz) == pytest.approx(1)
    assert separability(W, range(20), range(20, 40)) > 0.9
    assert separability(rng.normal(size=(40, 4)), range(20), range(20, 40)) < 0.8
    with pytest.raises(RnnscopeError, match="class b has no words"):
        difference_vector(W, [1, 2], [])
    assert list(class_words([1, 1, 2, 3], ["NN", "NN", "NNS", "NN"], ["NN"])) == [1, 3]
    with pytest.raises(RnnscopeError, match="no words tagged VBZ"):
        class_words([1, 2], ["NN", "NNS"], ["VBZ"])
