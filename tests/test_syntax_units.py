"""Syntactic-depth data set and nested-CV ridge regression."""
from __future__ import annotations

import numpy as np
import pytest

from rnnscope.agreement.states import sentence_states
from rnnscope.agreement.syntax_units import (depth_features, fit_depth, generate_depth_dataset,
                                             open_nodes, syntax_units, tree_words)
from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model
from tests.test_ablation import one_thread  # noqa: F401


def test_open_nodes_reproduce_the_paper_example():
    tree = ("S", [("NP", ["Ten", ("AdjP", ["really", "ecstatic"]), "cousins",
                          ("PP", ["of", ("NP", ["four", "teachers"])])]),
                  ("VP", ["are", "quickly", "laughing"])])
    assert tree_words(tree) == "Ten really ecstatic cousins of four teachers are quickly laughing".split()
    assert open_nodes(tree) == [1, 2, 3, 3, 4, 5, 6, 2, 3, 4]


def test_dataset_decorrelates_depth_from_position():
    ds = generate_depth_dataset(per_length=12, lengths=(2, 16), positions=(6, 9), depths=(3, 6), seed=1)
    pts = ds.points
    assert set(pts["position"] + 1) <= set(range(6, 10)) and set(pts["depth"]) <= set(range(3, 7))
    # every cell equally filled
    sizes = pts.groupby(["position", "depth"]).size()
    assert sizes.nunique() == 1
    for s, p, d in pts.itertuples(index=False):
        assert ds.depths[s][p] == d and len(ds.sentences[s]) == len(ds.depths[s])
    raw = np.array([(j, d[j]) for d in ds.depths for j in range(len(d))])
    assert np.corrcoef(raw.T)[0, 1] > 0.3
    assert len(sizes) == 16  # the full 4 x 4 grid, so position and depth are uncorrelated
    assert abs(np.corrcoef(pts["position"], pts["depth"])[0, 1]) < 1e-9
    again = generate_depth_dataset(per_length=12, lengths=(2, 16), positions=(6, 9), depths=(3, 6), seed=1)
    assert again.sentences == ds.sentences and again.points.equals(ds.points)


def test_ridge_finds_planted_syntax_unit():
    rng = np.random.default_rng(0)
    n, units = 600, 40
    depth = rng.integers(3, 9, n).astype(float)
    X = rng.normal(size=(n, units))
    X[:, 17] = 0.5 * depth + rng.normal(scale=0.3, size=n)
    freq = rng.normal(size=n)
    groups = np.repeat(np.arange(n // 3), 3)
    res = fit_depth(X, depth, freq, groups, units=[(2, j) for j in range(units)], hidden=units)
    assert res.r2.mean() > 0.8 and len(res.r2) == 5
    assert abs(res.r2_covariate.mean()) < 0.1
    assert list(res.outliers["unit"]) == [17]
    assert res.outliers["global_unit"].iloc[0] == units + 17
    shuffled = fit_depth(X, rng.permutation(depth), freq, groups)
    assert shuffled.r2.mean() < 0.1
    with pytest.raises(RnnscopeError, match="sentences for nested"):
        fit_depth(X[:8], depth[:8], groups=np.zeros(8))


def test_syntax_units_runs_on_a_model():
    ds = generate_depth_dataset(per_length=6, lengths=(2, 14), positions=(4, 8), depths=(2, 5), seed=0)
    words = sorted({w for s in ds.sentences for w in s})
    vocab = Vocabulary("word", words)
    model = tiny_model("lstm", layers=2, hidden=10, vocab=len(vocab), emb=8, seed=0)
    X = depth_features(model, vocab, ds, "c")
    full = sentence_states(model, vocab, ds.sentences, ["layer1.c", "layer2.c"])
    for j, (s, p) in enumerate(zip(ds.points["sentence"], ds.points["position"])):
        expected = np.concatenate([full["layer1.c"][s][p], full["layer2.c"][s][p]])
        np.testing.assert_allclose(X[j], expected, atol=1e-5)
    res = syntax_units(model, vocab, ds, outer=3, inner=3)
    assert len(res.table) == 20 and set(res.table["layer"]) == {1, 2}
    assert np.isfinite(res.r2).all()
    assert "R2 test" in res.summary()
