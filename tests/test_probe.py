"""Per-component decoding (seed 000) on stores with planted signals."""
from __future__ import annotations

import numpy as np
import pytest
from test_concepts import planted_tokens

from rnnscope.analysis.probe import probe, probe_arrays
from rnnscope.errors import RnnscopeError
from rnnscope.store import ActivationStore

TAGS = ["DT", "NN", "VB", "IN"]


def encoded(tags, rng, hidden=16, strength=3.5):
    """Activations whose first 4 units are the one-hot tag plus noise."""
    X = rng.normal(0, 1, (len(tags), hidden)).astype(np.float32)
    for k, t in enumerate(TAGS):
        X[:, k] += strength * (np.asarray(tags) == t)
    return X


@pytest.fixture
def store(tmp_path):
    tokens = planted_tokens()
    rng = np.random.default_rng(5)
    tags = tokens["xpos"].to_numpy()
    prev = np.roll(tags, 1)  # activation at w encodes the tag of w-1 (same sentence except at 0)
    arrays = {"layer1.h": rng.normal(0, 1, (len(tokens), 16)).astype(np.float32),
              "layer1.f": encoded(tags, rng), "layer1.i": encoded(prev, rng)}
    return ActivationStore.from_arrays(tmp_path / "s", arrays, tokens, meta={"vocab_kind": "word"})


def test_planted_component_decodes_and_control_stays_at_majority(store):
    res = probe(store, "xpos", progress=False)
    t = res.table.set_index("key")
    assert t.loc["layer1.f", "accuracy"] > 0.9
    assert abs(t.loc["layer1.h", "accuracy"] - t.loc["layer1.h", "majority"]) < 0.1
    for key in t.index:  # activations carry tags, never word identity: control ~ majority
        assert abs(t.loc[key, "control_accuracy"] - t.loc[key, "majority"]) < 0.12
    assert t.loc["layer1.f", "selectivity"] > 0.5
    assert res.pivot().shape == (1, 3)
    res.plot()


def test_context_offsets_find_the_previous_word(store):
    res = probe(store, "xpos", components=["i", "f"], offsets=(-1, 0, 1), control=False,
                progress=False)
    t = res.table.set_index(["key", "offset"])["accuracy"]
    assert t[("layer1.i", -1)] > 0.9 and t[("layer1.i", 0)] < 0.5
    assert t[("layer1.f", 0)] > 0.9 and t[("layer1.f", 1)] < 0.5
    res.plot_offsets()


def test_na_tokens_are_trained_but_not_scored(store):
    res = probe(store, "Case", components=["f"], control=False, progress=False)
    row = res.table.iloc[0]
    n_case = store.tokens["Case"].notna().sum()
    assert row["n_test"] < 0.2 * n_case and row["n_classes"] == 2
    # Case alternates with position, which no unit carries: near chance among NN tokens
    assert 0.3 < row["accuracy"] < 0.7


def test_separate_test_store(tmp_path, store):
    tokens = planted_tokens(n_sent=40, seed=9)
    rng = np.random.default_rng(11)
    arrays = {k: encoded(tokens["xpos"], rng) for k in ("layer1.h", "layer1.f", "layer1.i")}
    test = ActivationStore.from_arrays(tmp_path / "t", arrays, tokens)
    res = probe(store, "xpos", components=["f"], test_store=test, control=False, progress=False)
    assert res.table.iloc[0]["n_test"] == len(tokens) and res.table.iloc[0]["accuracy"] > 0.9


def test_bad_inputs(store):
    with pytest.raises(RnnscopeError, match="no token has feature 'Gender'"):
        probe(store, "Gender", progress=False)
    with pytest.raises(RnnscopeError, match="has no component 'c'"):
        probe(store, "xpos", components=["c"], progress=False)
    labels = np.array(["A"] * 50 + ["B"] * 49 + ["C"], dtype=object)
    with pytest.raises(RnnscopeError, match="'C' has only 1 example"):
        probe_arrays({"layer1.h": np.zeros((100, 3))}, labels)
