"""Dynamics, efferent weights, decoding across time and connectivity on planted signals."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from rnnscope.agreement import generate
from rnnscope.agreement.connectivity import connectivity, max_activity
from rnnscope.agreement.dynamics import efferent_weights, unit_dynamics
from rnnscope.agreement.tasks import verb_pairs
from rnnscope.agreement.time_decoding import auc_columns, decode_across_time, time_decoding
from rnnscope.agreement.units import parse_units
from rnnscope.errors import RnnscopeError
from tests.conftest import tiny_model
from tests.test_ablation import NUMBER_UNIT, hand, one_thread  # noqa: F401


def test_dynamics_of_the_number_unit(hand):
    pools, vocab, model = hand
    items = generate(["NounPP"], n=40, seed=0)
    res = unit_dynamics(model, vocab, items, [(1, NUMBER_UNIT), (1, 0)])
    t = res.table
    assert set(t["component"]) == {"i", "f", "o", "g", "c", "h"}
    c = t[(t["unit"] == NUMBER_UNIT) & (t["component"] == "c")].set_index(["condition", "label"])
    # the cell takes the subject's number at the subject and keeps it through the attractor
    for label in ("subj", "prep", "attr", "verb"):
        assert c.loc[("SS", label), "mean"] > 0.9 and c.loc[("SP", label), "mean"] > 0.9
        assert c.loc[("PS", label), "mean"] < -0.9 and c.loc[("PP", label), "mean"] < -0.9
        assert c.loc[("SP", label), "std"] < 0.05
    assert abs(c.loc[("SS", "det"), "mean"]) < 0.01  # nothing stored before the subject
    i = t[(t["unit"] == NUMBER_UNIT) & (t["component"] == "i")].set_index(["condition", "label"])
    assert i.loc[("SP", "subj"), "mean"] > 0.99 and i.loc[("SP", "attr"), "mean"] < 0.01
    assert list(c.loc["SS"].index) == ["det", "subj", "prep", "det2", "attr", "verb"]
    assert (t["n"] == 40).all()
    fig = res.plot(1, NUMBER_UNIT)
    assert [ax.get_title() for ax in fig.axes] == ["i", "f", "o", "g", "c", "h"]
    with pytest.raises(RnnscopeError, match="no dynamics"):
        res.plot(1, 7)


def test_efferent_weights_segregate(hand):
    pools, vocab, model = hand
    res = efferent_weights(model, vocab, [(1, NUMBER_UNIT), (1, 0)], verb_pairs(pools))
    t = res.table.set_index(["unit", "number"])
    assert (t.loc[(NUMBER_UNIT, "singular"), "weight"] == 5.0).all()
    assert (t.loc[(NUMBER_UNIT, "plural"), "weight"] == -5.0).all()
    assert len(res.table) == 2 * 2 * len(pools["verbs"])
    assert res.plot() is not None
    two = tiny_model(layers=2, hidden=8, vocab=len(vocab))
    with pytest.raises(RnnscopeError, match="not in the top layer"):
        efferent_weights(two, vocab, [(1, 0)], verb_pairs(pools))


def test_decode_across_time_planted():
    rng = np.random.default_rng(0)
    n, T = 120, 6
    subj = rng.integers(0, 2, n)
    attr = 1 - subj  # incongruent items only
    X = rng.normal(scale=0.3, size=(n, T, 2))
    X[:, 1:, 0] += subj[:, None]          # stores the subject from position 1 on
    X[:, 1:4, 1] += subj[:, None]         # follows the last noun: subject, then the attractor
    X[:, 4:, 1] += attr[:, None]
    lr = decode_across_time(X[:, :, :1], subj, train_position=1)
    sr = decode_across_time(X[:, :, 1:], subj, train_position=1)
    assert lr.auc.shape == (T, T)
    assert (lr.from_position()["auc"][1:] > 0.95).all()
    assert sr.auc[1, 2] > 0.95 and (sr.auc[1, 4:] < 0.05).all()
    assert abs(lr.auc[0, 0] - 0.5) < 0.2  # nothing to decode before the subject
    assert len(lr.table) == T * T and lr.plot_matrix() is not None
    with pytest.raises(RnnscopeError, match="two classes"):
        decode_across_time(X, np.zeros(n))
    scores = rng.normal(size=(n, 3)).round(1)  # with ties
    np.testing.assert_allclose(auc_columns(subj, scores),
                               [roc_auc_score(subj, scores[:, k]) for k in range(3)])


def test_time_decoding_on_a_model(hand):
    pools, vocab, model = hand
    items = [it for it in generate(["NounPP"], n=30, seed=0) if it.incongruent]
    res = time_decoding(model, vocab, items, [(1, NUMBER_UNIT)], component="c", cv=3)
    row = res.from_position()
    assert row["label"].tolist() == ["det", "subj", "prep", "det2", "attr", "verb"]
    assert (row["auc"][1:] > 0.95).all() and res.train_position == 1
    with pytest.raises(RnnscopeError, match="different lengths"):
        time_decoding(model, vocab, generate(["Simple", "NounPP"], n=10), [(1, 0)])


def test_time_decoding_takes_the_subject_position_from_the_items(hand):
    """Items without slot labels: refused unless they (or the caller) say where the subject is;
    a subject at word 2 ("Yesterday the boy ...") is trained at word 2, not word 1."""
    import dataclasses

    pools, vocab, model = hand
    items = [it for it in generate(["NounPP"], n=30, seed=0) if it.incongruent]
    bare = [dataclasses.replace(it, labels=()) for it in items]
    with pytest.raises(RnnscopeError, match="do not say where their subject is"):
        time_decoding(model, vocab, bare, [(1, NUMBER_UNIT)], component="c", cv=3)
    told = [dataclasses.replace(it, extra={"subject_index": 1}) for it in bare]
    res = time_decoding(model, vocab, told, [(1, NUMBER_UNIT)], component="c", cv=3)
    assert res.train_position == 1
    shifted = time_decoding(model, vocab, bare, [(1, NUMBER_UNIT)], component="c", cv=3, subject=2)
    assert shifted.train_position == 2 and shifted.from_position()["label"][2] == "w2"
    mixed = told[:10] + [dataclasses.replace(it, extra={"subject_index": 2}) for it in bare[10:]]
    with pytest.raises(RnnscopeError, match="different words"):
        time_decoding(model, vocab, mixed, [(1, NUMBER_UNIT)], component="c", cv=3)


def test_connectivity_planted_weight():
    model = tiny_model(layers=2, hidden=30, vocab=20, seed=1)
    H = 30
    with torch.no_grad():
        model.layers[1].weight_hh_l0[1 * H + 4, 9] = 20.0   # forget gate of 2:4 from 2:9
        model.layers[1].weight_hh_l0[0 * H + 4, 9] = -20.0  # input gate
    res = connectivity(model, [(2, 9), (2, 2), (1, 5)], [(2, 4)])
    t = res.table.set_index(["source_layer", "source_unit", "gate"])
    assert t.loc[(2, 9, "f"), "z"] > 3 and t.loc[(2, 9, "i"), "z"] < -3
    assert t.loc[(2, 9, "f"), "outlier"] and not t.loc[(2, 2, "f"), "outlier"]
    assert abs(t.loc[(2, 9, "o"), "z"]) < 3
    assert t.loc[(1, 5, "g"), "weight"] == pytest.approx(float(model.layers[1].weight_ih_l0[2 * H + 4, 5].detach()))
    scale = {1: np.full(H, 2.0), 2: np.ones(H)}
    scale[2][9] = 0.0
    scaled = connectivity(model, [(2, 9), (1, 5)], [(2, 4)], scale=scale).table
    assert scaled.loc[0, "weight"] == 0.0 and scaled.loc[0, "z"] != t.loc[(2, 9, "i"), "z"]
    assert scaled.set_index(["source_layer", "gate"]).loc[(1, "g"), "weight"] == \
        pytest.approx(2 * t.loc[(1, 5, "g"), "weight"])
    with pytest.raises(RnnscopeError, match="does not project"):
        connectivity(tiny_model(layers=3, hidden=8), [(1, 0)], [(3, 1)])
    assert res.plot() is not None


def test_max_activity_and_unit_parsing(hand):
    pools, vocab, model = hand
    act = max_activity(model, vocab, generate(["NounPP"], n=5))
    assert act[1].shape == (8,) and 0.7 < act[1][NUMBER_UNIT] < 1.0
    cfg = model.config
    assert parse_units("1:3, 1:0-2,1:3", cfg) == [(1, 3), (1, 0), (1, 1), (1, 2)]
    assert len(parse_units("1:*", cfg)) == 8
    for bad, msg in (("2:1", "layer 2"), ("1:9", "outside"), ("x", "bad unit"), ("", "no unit")):
        with pytest.raises(RnnscopeError, match=msg):
            parse_units(bad, cfg)
