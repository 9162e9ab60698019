"""``estimator=`` in probe() and concept_neurons(): any scikit-learn classifier, cloned per fit."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from rnnscope.analysis.concepts import concept_neurons, concepts
from rnnscope.analysis.probe import probe, probe_arrays
from rnnscope.errors import RnnscopeError
from tests.test_concepts import planted_store

PLANTED = 6


class Recording(LogisticRegression):
    """A LogisticRegression that keeps every object a fit ran on (alive, so ids stay unique)."""

    fitted: list = []

    def fit(self, X, y, sample_weight=None):
        Recording.fitted.append(self)
        return super().fit(X, y, sample_weight)


def planted(n: int = 800, units: int = 10, seed: int = 0):
    """Tags DT/NN/VB; unit ``PLANTED`` = 3 x [DT] + noise, every other unit noise."""
    rng = np.random.default_rng(seed)
    y = rng.choice(["DT", "NN", "VB"], n).astype(object)
    X = rng.normal(size=(n, units)).astype(np.float32)
    X[:, PLANTED] += 3.0 * (y == "DT")
    return X, y


def test_concept_neurons_custom_estimator_finds_the_planted_unit_and_is_cloned():
    X, y = planted()
    est = Recording(C=0.5)
    Recording.fitted.clear()
    res = concept_neurons(X, y, k=2, estimator=est)
    assert res.top_units("DT")[0] == PLANTED
    assert res.rank == "estimator" and res.table["C"].isna().all()
    assert int(np.argmax(np.abs(res.weights.loc["DT"].to_numpy()))) == PLANTED
    dt1 = res.table[(res.table["class"] == "DT") & (res.table["k"] == "1")].iloc[0]
    assert dt1["accuracy"] > 0.9
    # 3 classes x (all units + top 1 + top 2) fits, each on its own clone, never on `est`
    assert len(Recording.fitted) == 9 and len({id(f) for f in Recording.fitted}) == 9
    assert all(f is not est for f in Recording.fitted)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)


def test_concept_neurons_pipeline_ranks_by_the_last_steps_coef():
    X, y = planted()
    X[:, 2] *= 100.0  # a noise unit on a huge scale: the scaler keeps it from mattering
    pipe = make_pipeline(StandardScaler(), LogisticRegression(l1_ratio=1.0, solver="liblinear",
                                                              C=0.1))
    res = concept_neurons(X, y, k=1, estimator=pipe)
    assert res.top_units("DT")[0] == PLANTED
    # liblinear's L1 zeroes most noise units, so the ranking comes from the sparse coef_
    assert res.table.loc[res.table["k"] == "all", "nonzero"].min() < X.shape[1]
    with pytest.raises(NotFittedError):
        check_is_fitted(pipe)
    search = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()),
                          {"logisticregression__C": [0.01, 1.0]}, cv=3)
    assert concept_neurons(X, y, k=1, estimator=search).top_units("DT")[0] == PLANTED


def test_concepts_store_wrapper_passes_the_estimator(tmp_path):
    res = concepts(planted_store(tmp_path), feature="xpos", key="layer1.f", k=1,
                   estimator=LogisticRegression(C=0.5))
    assert res.top_units("DT")[0] == 17 and res.rank == "estimator"


def test_concept_estimator_errors_are_clear():
    X, y = planted(n=300)
    with pytest.raises(RnnscopeError, match="KNeighborsClassifier has no coef_"):
        concept_neurons(X, y, estimator=KNeighborsClassifier())
    with pytest.raises(RnnscopeError, match="a Pipeline step changed the features"):
        concept_neurons(X, y, estimator=make_pipeline(PCA(3), LogisticRegression()))
    with pytest.raises(RnnscopeError, match="must be a scikit-learn estimator"):
        concept_neurons(X, y, estimator=LogisticRegression)  # the class, not an instance
    with pytest.raises(RnnscopeError, match="rank= and Cs= do not apply"):
        concept_neurons(X, y, estimator=LogisticRegression(), rank="raw")
    with pytest.raises(RnnscopeError, match="a dev part chooses the built-in probe's C"):
        concept_neurons(X, y, estimator=LogisticRegression(), split="80/10/10")


def test_probe_arrays_custom_estimator_decodes_the_planted_key_and_is_cloned():
    X, y = planted()
    X[:, 3] += 3.0 * (y == "NN")  # with unit PLANTED (DT), layer1.c tells all three tags apart
    rng = np.random.default_rng(1)
    arrays = {"layer1.h": rng.normal(size=X.shape).astype(np.float32), "layer1.c": X}
    words = rng.integers(0, 100, len(y)).astype(str)
    est = Recording(C=0.5)
    Recording.fitted.clear()
    res = probe_arrays(arrays, y, words=words, estimator=est, feature="xpos")
    t = res.table.set_index("key")
    assert t.loc["layer1.c", "accuracy"] > 0.85
    assert t.loc["layer1.h", "accuracy"] < 0.5  # noise: about chance among three tags
    # 2 keys x (real + control) fits, each on a fresh clone; the passed object stays unfitted
    assert len(Recording.fitted) == 4 and len({id(f) for f in Recording.fitted}) == 4
    assert all(f is not est for f in Recording.fitted)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(RnnscopeError, match="must be a scikit-learn estimator"):
        probe_arrays(arrays, y, estimator="logreg")


def test_probe_store_with_a_pipeline(tmp_path):
    store = planted_store(tmp_path)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(C=0.5))
    res = probe(store, "xpos", components=["f", "h"], estimator=pipe, control=False,
                progress=False)
    t = res.table.set_index("key")
    # unit 17 of layer1.f tells DT from the rest: above the majority baseline; h is noise
    assert t.loc["layer1.f", "accuracy"] > t.loc["layer1.f", "majority"] + 0.1
    assert abs(t.loc["layer1.h", "accuracy"] - t.loc["layer1.h", "majority"]) < 0.1
    with pytest.raises(NotFittedError):
        check_is_fitted(pipe)
