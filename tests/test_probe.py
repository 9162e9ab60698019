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


# -- issue 17: --min-count over offsets, the control task's N/A --------------------------------
def _store_with_tags(tmp_path, tags: dict, n_sent: int = 40):
    """A small word store (layer1.f encodes the tag) with ``tags`` (row -> xpos) planted."""
    tokens = planted_tokens(n_sent=n_sent)
    for row, tag in tags.items():
        tokens.loc[row, "xpos"] = tag
    rng = np.random.default_rng(5)
    arrays = {"layer1.f": encoded(tokens["xpos"].to_numpy(), rng, hidden=6)}
    return ActivationStore.from_arrays(tmp_path / "s", arrays, tokens, meta={"vocab_kind": "word"})


def test_every_offset_is_checked_before_any_probe_is_fitted(tmp_path, monkeypatch):
    """A class with one example at one offset fails at once, naming the offset, before the
    probes of the other offsets are fitted (they used to be fitted first)."""
    import rnnscope.analysis.probe as probe_module

    store = _store_with_tags(tmp_path, {0: "UH"})   # word 0 of sentence 0: at w-1 and w only
    fitted = []
    real = probe_module._fit_score
    monkeypatch.setattr(probe_module, "_fit_score", lambda *a: fitted.append(1) or real(*a))
    with pytest.raises(RnnscopeError, match=r"^offset \+0: xpos class 'UH' has only 1 example"):
        probe(store, "xpos", offsets=(1, 0, -1), control=False, progress=False)
    assert fitted == []


def test_min_count_never_leaves_an_untrainable_other(tmp_path):
    """--min-count 2 with one rare tag used to make an OTHER of one example and fail with
    "(--min-count 2)" after fitting the earlier offsets; now that OTHER is left out (a note
    says so) and every offset is probed. Two rare tags make a trainable OTHER, kept."""
    store = _store_with_tags(tmp_path, {0: "UH"})
    res = probe(store, "xpos", offsets=(1, 0, -1), control=False, progress=False, min_count=2)
    t = res.table.set_index("offset")
    assert list(t.index) == [1, 0, -1] and (t["n_classes"] == 4).all()
    assert t.loc[0, "n_train"] + t.loc[0, "n_test"] == len(store.tokens) - 1
    assert t.loc[1, "n_train"] + t.loc[1, "n_test"] == len(store.tokens) - 40  # no w+1 at ends
    assert len(res.notes) == 2 and all("(UH) left out" in n for n in res.notes)  # w-1 and w
    assert t.loc[0, "accuracy"] > 0.9
    store2 = _store_with_tags(tmp_path / "two", {5: "UH", 30: "SYM"})
    res = probe(store2, "xpos", control=False, progress=False, min_count=2)
    assert res.table.loc[0, "n_classes"] == 5 and "merged into OTHER (2 examples)" in res.notes[0]


def _na_planted(n: int = 1500, seed: int = 0):
    """Half the word types have the feature (values A/B at random per token: not decodable);
    unit 0 says whether a word has it. Returns labels, word types, activations, word ids."""
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 200, n)
    has = types < 100
    labels = np.array([rng.choice(["A", "B"]) if h else None for h in has], dtype=object)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    X[:, 0] += 3 * has
    return labels, np.array([f"w{t}" for t in types]), X, types


def test_control_na_keep_measures_only_the_within_feature_part():
    """The default control keeps the real N/A words, so a representation that only knows which
    words have the feature gets no selectivity (the control probe knows it too); shuffling N/A
    per word type makes the control unable to use it: control accuracy falls, selectivity rises
    by what the N/A distinction is worth. The real accuracy is the same either way."""
    labels, words, X, _ = _na_planted()
    keep = probe_arrays({"layer1.h": X}, labels, words=words).table.iloc[0]
    shuf = probe_arrays({"layer1.h": X}, labels, words=words, control_na="shuffle").table.iloc[0]
    assert keep["accuracy"] == shuf["accuracy"]
    assert abs(keep["selectivity"]) < 0.1 and keep["control_accuracy"] > 0.3
    assert shuf["control_accuracy"] < 0.1 and shuf["selectivity"] > keep["selectivity"] + 0.3


def test_control_na_shuffle_is_still_a_control_and_its_labels_are_per_type():
    """Shuffled N/A is drawn per word type (one control value per type, N/A share as in the
    data, not the real N/A words), and a representation of word identity still scores well on
    it: the control measures memorising words, N/A included."""
    from rnnscope.analysis.labels import control_labels

    labels, words, _, types = _na_planted()
    ctrl = control_labels(words, labels, seed=3, na="shuffle")
    per_type = {}
    for w, c in zip(words, ctrl):
        per_type.setdefault(w, set()).add(c)
    assert all(len(v) == 1 for v in per_type.values())
    na_types = {w for w, v in per_type.items() if v == {None}}
    assert 0.35 < len(na_types) / len(per_type) < 0.65
    real_na = {w for w, lab in zip(words, labels) if lab is None}
    assert na_types != real_na and len(na_types & real_na) < 0.8 * len(real_na)
    with pytest.raises(RnnscopeError, match="keep, shuffle"):
        control_labels(words, labels, na="drop")
    rng = np.random.default_rng(1)
    identity = (3 * np.eye(200)[types] + rng.normal(0, 0.1, (len(types), 200))).astype(np.float32)
    row = probe_arrays({"layer1.h": identity}, labels, words=words,
                       control_na="shuffle").table.iloc[0]
    assert row["control_accuracy"] > 0.7


def test_probe_notes_say_what_the_control_measures(store):
    res = probe(store, "Case", components=["f"], progress=False)
    assert res.control_na == "keep" and len(res.notes) == 1
    assert "keeps the real N/A pattern" in res.notes[0] and "within words" in res.notes[0]
    res = probe(store, "Case", components=["f"], progress=False, control_na="shuffle")
    assert res.control_na == "shuffle" and "drawn per word type" in res.notes[0]
    res = probe(store, "xpos", components=["f"], progress=False)   # no N/A words: no note
    assert res.notes == []
    with pytest.raises(RnnscopeError, match="control_na must be one of keep, shuffle"):
        probe(store, "xpos", progress=False, control_na="all")


def test_linear_probe_is_a_scikit_learn_estimator():
    """clone, get/set_params, GridSearchCV and Pipeline work; parameters are validated in fit."""
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rnnscope.analysis.sparse_logreg import LinearProbe

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = np.where(X[:, 3] > 0, "NOUN", "VERB")
    probe = LinearProbe(C=0.5, penalty="l1", multi="ovr")
    twin = clone(probe)
    assert twin is not probe and twin.get_params() == probe.get_params()
    assert twin.set_params(C=2.0).C == 2.0
    search = GridSearchCV(LinearProbe(penalty="l1", multi="ovr"), {"C": [0.001, 1.0]}, cv=3).fit(X, y)
    assert search.best_params_ == {"C": 1.0} and search.score(X, y) > 0.95
    pipe = make_pipeline(StandardScaler(), LinearProbe()).fit(X, y)
    assert pipe.score(X, y) > 0.95
    assert int(np.argmax(np.abs(pipe[-1].coef_[0]))) == 3
    bad = LinearProbe(penalty="l3")  # constructing never raises (sklearn's rule) ...
    with pytest.raises(RnnscopeError, match="penalty"):
        bad.fit(X, y)  # ... fitting does
    with pytest.raises(RnnscopeError, match="C must be"):
        LinearProbe(C=-1).fit(X, y)
