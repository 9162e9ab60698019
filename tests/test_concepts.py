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


# -- issue 17: --min-count, seed 002's ranking and split --------------------------------------
def _rare_tag_store(tmp_path, rare: dict, n_sent: int = 60):
    """Planted store (unit 2 of layer1.c = [DT]) with the tags ``rare`` (row -> tag) planted."""
    tokens = planted_tokens(n_sent=n_sent)
    for row, tag in rare.items():
        tokens.loc[row, "xpos"] = tag
    rng = np.random.default_rng(2)
    c = rng.normal(0, 1, (len(tokens), 6)).astype(np.float32)
    c[:, 2] += 3.0 * (tokens["xpos"] == "DT").to_numpy()
    return ActivationStore.from_arrays(tmp_path / "s", {"layer1.c": c}, tokens,
                                       meta={"vocab_kind": "word"})


def test_min_count_leaves_out_an_untrainable_other_and_keeps_a_trainable_one(tmp_path):
    """One rare tag with one example used to become an OTHER with one example, then fail with
    "(--min-count 2)" although --min-count 2 was given. Now OTHER is left out with a notice;
    two rare tags make an OTHER with two examples, which is kept and trained."""
    store = _rare_tag_store(tmp_path, {5: "UH"})
    with pytest.raises(RnnscopeError, match="'UH' has only 1 example"):
        concepts(store, feature="xpos")                       # still an error without the flag
    res = concepts(store, feature="xpos", min_count=2)
    assert "OTHER" not in set(res.table["class"]) and "UH" not in set(res.table["class"])
    assert int(res.table.loc[res.table["k"] == "all", "n_class"].sum()) == len(store.tokens) - 1
    assert len(res.notes) == 1 and "UH" in res.notes[0] and "left out" in res.notes[0]
    assert res.top_units("DT")[0] == 2

    store2 = _rare_tag_store(tmp_path / "two", {5: "UH", 40: "SYM"})
    res = concepts(store2, feature="xpos", min_count=2)
    other = res.table[(res.table["class"] == "OTHER") & (res.table["k"] == "all")]
    assert len(other) == 1 and other.iloc[0]["n_class"] == 2
    assert "merged into OTHER (2 examples)" in res.notes[0]
    # a train/dev/test split needs 3 per class: the same 2-example OTHER is left out there
    res = concepts(store2, feature="xpos", min_count=2, split="80/10/10", Cs=[0.1, 1.0], k=1)
    assert "OTHER" not in set(res.table["class"]) and "fewer than the 3" in res.notes[0]


def test_raw_ranking_is_seed_002s_unstandardised_fit():
    """``rank="raw"`` fits the L1 classifier on the raw states, as seed 002 (scikit-learn on the
    cell states) does: a weak unit on a tiny scale gets a large raw weight and ranks first,
    where standardised ranking puts the strong unit first; the raw fit reaches scikit-learn's
    L1 objective on the same raw data."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from rnnscope.analysis.concepts import _RawL1Probe  # the raw fit, to read its intercept
    from rnnscope.analysis.labels import split_mask
    from rnnscope.analysis.sparse_logreg import l1_objective

    rng = np.random.default_rng(0)
    n = 600
    y = rng.choice(["DT", "NN", "VB"], n)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    dt = y == "DT"
    X[:, 1] = 10 * dt + rng.normal(0, 4, n)        # strong signal (2.5 sd), large scale
    X[:, 4] = 0.1 * dt + rng.normal(0, 0.08, n)    # weaker signal (1.25 sd), tiny scale
    std = concept_neurons(X, y, C=1.0, k=1)
    raw = concept_neurons(X, y, C=1.0, k=1, rank="raw")
    assert std.top_units("DT")[:2] == [1, 4] and raw.top_units("DT")[:2] == [4, 1]
    assert std.rank == "standardised" and raw.rank == "raw"
    is_test = split_mask(n, 0.1, 0, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = LogisticRegression(penalty="l1", solver="saga", C=1.0, tol=1e-8,
                                max_iter=20000).fit(X[~is_test], dt[~is_test])
    assert list(np.argsort(-np.abs(sk.coef_[0]))[:2]) == [4, 1]
    probe = _RawL1Probe(C=1.0, penalty="l1", multi="ovr").fit(X[~is_test], y[~is_test])
    j = list(probe.classes_).index("DT")
    w, b = probe.coef_[j], probe.intercept_[j]
    assert np.allclose(raw.weights.loc["DT"].to_numpy(), w)
    ours = l1_objective(X[~is_test], dt[~is_test], w, b, 1.0)
    theirs = l1_objective(X[~is_test], dt[~is_test], sk.coef_[0], sk.intercept_[0], 1.0)
    assert ours <= theirs * (1 + 1e-3)


def test_dev_part_of_80_10_10_chooses_each_classifiers_C():
    """With a dev part, each class's C is the one with the best dev accuracy (seed 002 follows
    Radford et al., who choose C on validation): a planted unit gives C = 1 on an honest dev
    set; a dev set whose unit is flipped makes the all-NOT classifier (tiny C) win instead —
    the choice follows dev, and dev rows are neither trained on nor tested."""
    rng = np.random.default_rng(1)
    n = 600
    y = rng.choice(["DT", "NN", "VB"], n)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    X[:, 2] += 5.0 * (y == "DT")
    is_test, is_dev = np.zeros(n, bool), np.zeros(n, bool)
    is_test[:60], is_dev[60:120] = True, True
    res = concept_neurons(X, y, k=1, is_test=is_test, is_dev=is_dev, Cs=[1.0, 1e-3])
    dt = res.table[res.table["class"] == "DT"].set_index("k")
    assert dt.loc["all", "C"] == 1.0 and dt.loc["1", "C"] == 1.0
    assert res.top_units("DT")[0] == 2 and dt.loc["all", "accuracy"] > 0.95
    assert res.n_split == (480, 60, 60) and res.split == "given"
    flipped = X.copy()
    flipped[60:120, 2] = -flipped[60:120, 2] + 5.0   # dev: the unit now says "not DT"
    res = concept_neurons(flipped, y, k=1, is_test=is_test, is_dev=is_dev, Cs=[1.0, 1e-3])
    dt = res.table[res.table["class"] == "DT"].set_index("k")
    assert dt.loc["all", "C"] == 1e-3 and dt.loc["all", "nonzero"] == 0
    assert dt.loc["all", "recall"] == 0.0                 # the all-NOT classifier on test


def test_80_10_10_split_is_stratified_and_named():
    from rnnscope.analysis.labels import parse_split, split_parts

    assert parse_split("80/10/10") == (0.8, 0.1, 0.1) and parse_split("90/10") == (0.9, 0.0, 0.1)
    rng = np.random.default_rng(4)
    y = np.array(list(rng.choice(["DT", "NN", "VB"], 1000)) + ["UH"] * 3, dtype=object)
    is_dev, is_test = split_parts(y, 0.1, 0.1, seed=0)
    assert not (is_dev & is_test).any()
    assert abs(is_dev.mean() - 0.1) < 0.01 and abs(is_test.mean() - 0.1) < 0.01
    for part in (is_dev, is_test, ~is_dev & ~is_test):     # every class in every part
        assert set(y[part]) == {"DT", "NN", "VB", "UH"}
    X = rng.normal(size=(len(y), 4)).astype(np.float32)
    res = concept_neurons(X, y, k=1, split="80/10/10", Cs=[0.1])
    n_tr, n_dev, n_te = res.n_split
    assert res.split == "80/10/10" and n_tr + n_dev + n_te == len(y)
    assert abs(n_dev - 100) <= 3 and abs(n_te - 100) <= 3
    old = concept_neurons(X, y, k=1)                      # default unchanged: 90/10, fixed C
    new = concept_neurons(X, y, k=1, split="90/10")
    assert old.split == new.split == "90/10" and old.n_split[1] == 0
    pd.testing.assert_frame_equal(old.table, new.table)
    assert set(old.table["C"]) == {0.05}


def test_rank_and_split_bad_values_are_clear_errors():
    y = np.array(["A", "B"] * 50, dtype=object)
    X = np.random.default_rng(0).normal(size=(100, 3))
    with pytest.raises(RnnscopeError, match="rank must be one of standardised, raw"):
        concept_neurons(X, y, rank="zscore")
    with pytest.raises(RnnscopeError, match="split must be TRAIN/TEST or TRAIN/DEV/TEST"):
        concept_neurons(X, y, split="70/20")
    with pytest.raises(RnnscopeError, match="needs a split with a dev part"):
        concept_neurons(X, y, Cs=[0.1, 1.0])
    y3 = np.array(["A"] * 50 + ["B"] * 48 + ["C"] * 2, dtype=object)
    with pytest.raises(RnnscopeError, match="'C' has only 2 examples: need at least 3"):
        concept_neurons(X, y3, split="80/10/10")


def test_raw_l1_fit_converges_on_large_unscaled_units():
    """Raw cell states spread over 0.5..50 with means far from 0: FISTA on them used to stop
    after ten tiny steps at the all-NOT classifier (the seed-002 rerun chose the smallest C for
    every class). Solved on standardised units with per-unit penalties 1/spread, the raw
    objective is at least as low as liblinear's (which also penalises the intercept)."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from rnnscope.analysis.concepts import _RawL1Probe
    from rnnscope.analysis.sparse_logreg import l1_objective

    rng = np.random.default_rng(1)
    n, d = 6000, 12
    y = rng.random(n) < 0.15
    X = rng.normal(size=(n, d)) * np.linspace(0.5, 50, d) + 10.0
    X[:, 3] += 40.0 * y                     # the signal rides on a unit of spread ~14
    X = X.astype(np.float32)
    labels = np.where(y, "SPACE", "NOT")
    for C in (2.0 ** -8, 1.0):
        probe = _RawL1Probe(C=C, penalty="l1", multi="ovr").fit(X, labels)
        assert list(probe.classes_) == ["NOT", "SPACE"]  # binary: one row, for SPACE
        w, b = probe.coef_[0].astype(np.float64), float(np.ravel(probe.intercept_)[0])
        pred = (X @ w + b) > 0
        assert pred.sum() > 0 and np.mean(pred == y) > 0.93, C  # all-NOT would score 0.85
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk = LogisticRegression(penalty="l1", solver="liblinear", C=C, tol=1e-8,
                                    max_iter=10000).fit(X, y)
        ours = l1_objective(X, y, w, b, C)
        theirs = l1_objective(X, y, sk.coef_[0], sk.intercept_[0], C)
        assert ours <= theirs * (1 + 1e-3), (C, ours, theirs)
