"""Concept neurons (seed 002) on stores with planted signals, and the bad-input messages."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnscope.analysis.concepts import concept_neurons, concepts
from rnnscope.analysis.labels import control_labels, feature_labels, group_ptb_tags
from rnnscope.errors import RnnscopeError
from rnnscope.store import ActivationStore

TAGS = ["DT", "NN", "VB", "IN"]


def planted_tokens(n_sent: int = 150, words_per: int = 12, seed: int = 0) -> pd.DataFrame:
    """A word-level token table: 200 word types, each with one fixed tag; Case only on NN."""
    rng = np.random.default_rng(seed)
    types = [f"w{k}" for k in range(200)]
    type_tag = {w: TAGS[k % len(TAGS)] for k, w in enumerate(types)}
    rows = []
    for s in range(n_sent):
        for j, w in enumerate(rng.choice(types, words_per)):
            tag = type_tag[w]
            rows.append({"sentence": s, "position": j, "token": w, "word": w, "word_index": j,
                         "is_word_end": True, "xpos": tag,
                         "Case": (["Nom", "Acc"][j % 2] if tag == "NN" else None)})
    return pd.DataFrame(rows)


def planted_store(tmp_path, unit: int = 17, hidden: int = 32, seed: int = 0):
    """Unit ``unit`` of layer1.f = [tag == DT] + noise; layer1.h is pure noise."""
    tokens = planted_tokens(seed=seed)
    rng = np.random.default_rng(seed + 1)
    n = len(tokens)
    f = rng.normal(0, 1, (n, hidden)).astype(np.float32)
    f[:, unit] = (tokens["xpos"] == "DT").to_numpy() * 2.0 + rng.normal(0, 0.3, n)
    h = rng.normal(0, 1, (n, hidden)).astype(np.float32)
    return ActivationStore.from_arrays(tmp_path / "s", {"layer1.h": h, "layer1.f": f}, tokens,
                                       meta={"vocab_kind": "word"})


def test_planted_unit_ranked_first_and_k1_accurate(tmp_path):
    store = planted_store(tmp_path)
    res = concepts(store, feature="xpos", key="layer1.f")
    assert res.top_units("DT")[0] == 17
    row = res.table[(res.table["class"] == "DT") & (res.table["k"] == "1")].iloc[0]
    assert row["accuracy"] > 0.95 and row["recall"] > 0.9
    assert row["n_class"] + row["n_not"] == len(store.tokens)
    # other tags are not encoded by unit 17 as strongly, and sparsity is real
    assert res.table.loc[res.table["k"] == "all", "nonzero"].min() < 32
    assert set(res.summary["k"]) == {"all", "1", "2", "3"}
    wide = res.wide()
    assert list(wide.columns[:3]) == ["data (class / NOT)", "features used", "top 3"]
    res.plot_weights("DT")
    res.plot_histogram("DT")


def test_multiclass_argmax_over_normalised_weights(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.choice(TAGS, 2000)
    X = rng.normal(size=(2000, 10))
    for k, t in enumerate(TAGS):
        X[:, k] += 3 * (y == t)
    res = concept_neurons(X, y, C=1.0)
    acc_all = res.summary.set_index("k").loc["all", "accuracy"]
    assert acc_all > 0.85
    for k, t in enumerate(TAGS):
        assert res.top_units(t)[0] == k


def test_one_example_class_is_a_clear_error(tmp_path):
    tokens = planted_tokens()
    tokens.loc[5, "xpos"] = "UH"
    store = ActivationStore.from_arrays(tmp_path / "s", {"layer1.c": np.random.rand(len(tokens), 4)},
                                        tokens)
    with pytest.raises(RnnscopeError, match="'UH' has only 1 example"):
        concepts(store, feature="xpos")


def test_missing_feature_and_component_are_clear_errors(tmp_path):
    store = planted_store(tmp_path)
    with pytest.raises(RnnscopeError, match="no token has feature 'Gender'"):
        concepts(store, feature="Gender", key="layer1.f")
    with pytest.raises(RnnscopeError, match="has no component 'layer1.c'"):
        concepts(store, feature="xpos", key="layer1.c")
    with pytest.raises(RnnscopeError, match="has no component 'c'"):
        concepts(store, feature="xpos")  # default component c is absent


def test_feature_column_all_missing_is_a_clear_error(tmp_path):
    tokens = planted_tokens()
    tokens["Mood"] = None
    store = ActivationStore.from_arrays(tmp_path / "s", {"layer1.c": np.random.rand(len(tokens), 4)},
                                        tokens)
    with pytest.raises(RnnscopeError, match="no token has feature 'Mood'"):
        concepts(store, feature="Mood")


def byte_tokens() -> pd.DataFrame:
    """Two byte-level sentences 'the dog' / 'a cat' with a separator between words."""
    rows = []
    for s, words in enumerate([[("the", "DT"), ("dog", "NN")], [("a", "DT"), ("cat", "NNS")]]):
        pos = 0
        for j, (w, tag) in enumerate(words):
            for c_i, ch in enumerate(w):
                rows.append({"sentence": s, "position": pos, "token": ch, "word": w, "word_index": j,
                             "is_word_end": c_i == len(w) - 1, "xpos": tag})
                pos += 1
            if j < len(words) - 1:
                rows.append({"sentence": s, "position": pos, "token": " ", "word": None,
                             "word_index": -1, "is_word_end": False, "xpos": "SPACE"})
                pos += 1
    return pd.DataFrame(rows)


def test_byte_labels_every_unit_or_word_end():
    from rnnscope.analysis.concepts import concept_labels

    t = byte_tokens()
    labels, rows = concept_labels(t, "xpos", read="every")
    assert list(labels[:4]) == ["DT", "DT", "DT", "SPACE"] and len(rows) == len(t)
    labels, rows = concept_labels(t, "xpos", read="word_end", group=True)
    assert list(labels) == ["DT", "NN", "DT", "NN"]
    assert list(t.loc[rows, "token"]) == ["e", "g", "a", "t"]


def test_grouping_and_offsets_and_control():
    assert list(group_ptb_tags(["VBZ", "NNS", "NNPS", "RBR", "JJS", "UH", "SPACE", None])) == \
        ["VB", "NN", "NNP", "RB", "JJ", "OTHER", "SPACE", None]
    t = planted_tokens(n_sent=2, words_per=3)
    prev, valid = feature_labels(t, "xpos", offset=-1)
    assert not valid[0] and prev[1] == t.loc[0, "xpos"] and not valid[3]
    words = ["a", "b", "a", "c", "b"]
    ctrl = control_labels(words, ["X", "Y", None, "X", "Y"], seed=0)
    assert ctrl[2] is None and ctrl[0] in ("X", "Y") and ctrl[1] == ctrl[4]


def test_every_one_vs_rest_class_converges_to_sklearns_objective():
    """Per-class FISTA: each class's L1 objective within 1e-3 relative of scikit-learn's at the
    same C, including the small classes (35 and 156 of 1500 rows)."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from rnnscope.analysis.sparse_logreg import fit_l1, l1_objective

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 30)).astype(np.float32)
    logits = np.stack([2 * X[:, 0], 2 * X[:, 1] - 1, 3 * X[:, 2] - 4, 3 * X[:, 3] - 6], 1)
    y = (logits + rng.normal(size=(1500, 4))).argmax(1)
    assert np.bincount(y).min() < 50
    C = 0.05
    fit = fit_l1(X, y, 4, C=C, multi="ovr")
    assert fit.converged
    for k in range(4):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = LogisticRegression(penalty="l1", solver="saga", C=C, tol=1e-7,
                                    max_iter=5000).fit(X, y == k)
        ours = l1_objective(X, y == k, fit.weight[:, k], fit.bias[k], C)
        theirs = l1_objective(X, y == k, sk.coef_[0], sk.intercept_[0], C)
        assert abs(ours - theirs) <= 1e-3 * theirs, (k, ours, theirs)
        assert abs(int((fit.weight[:, k] != 0).sum()) - int((sk.coef_ != 0).sum())) <= 2
