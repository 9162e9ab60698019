"""Unit correlations and depth tracking (seed 000) on planted signals."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnscope.analysis.correlate import correlate, correlate_arrays, depth_tracking
from rnnscope.errors import RnnscopeError
from rnnscope.store import ActivationStore


def tokens_with_depth(n_sent=60, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sent):
        n = int(rng.integers(5, 15))
        depth = np.abs(np.cumsum(rng.choice([-1, 1], n)))
        for j in range(n):
            rows.append({"sentence": s, "position": j, "token": "w", "word": "w", "word_index": j,
                         "is_word_end": True, "length": n, "depth": float(depth[j]),
                         "log_frequency": float(rng.normal())})
    return pd.DataFrame(rows)


def test_planted_units_found_per_feature(tmp_path):
    t = tokens_with_depth()
    rng = np.random.default_rng(1)
    c = rng.normal(0, 1, (len(t), 12))
    c[:, 4] = t["word_index"] * 0.5 + rng.normal(0, 0.3, len(t))        # position unit
    c[:, 7] = -np.exp(t["length"] / 3.0) + rng.normal(0, 0.3, len(t))   # monotone length unit
    f = rng.normal(0, 1, (len(t), 12))
    f += t["depth"].to_numpy()[:, None] * 0.8                           # mean of f tracks depth
    store = ActivationStore.from_arrays(tmp_path / "s", {"layer1.c": c, "layer1.f": f}, t)
    res = correlate(store, components=["c", "f"])
    top = res.top("position", n=1).iloc[0]
    assert (top["key"], top["unit"]) == ("layer1.c", 4) and top["pearson"] > 0.9
    top = res.top("length", n=1, by="spearman").iloc[0]
    assert (top["key"], top["unit"]) == ("layer1.c", 7) and top["spearman"] < -0.9
    d = res.depth.set_index("key")["mean_r"]
    assert d["layer1.f"] > 0.8 and abs(d["layer1.c"]) < 0.3
    assert res.skipped == []
    res.plot("position")
    res.plot_depth()
    assert set(res.summary()["feature"]) == {"position", "length", "depth", "log_frequency"}


def test_spearman_sees_monotone_nonlinear_relation():
    x = np.linspace(0, 5, 200)
    res = correlate_arrays({"layer2.h": np.exp(3 * x)[:, None]}, {"length": x})
    row = res.table.iloc[0]
    assert row["spearman"] == pytest.approx(1.0) and row["pearson"] < 0.8


def test_depth_tracking_skips_constant_sentences():
    out = depth_tracking(np.ones((4, 2)) * np.arange(4)[:, None], [0, 0, 0, 1], [0, 0, 0, 1],
                         key="layer1.h", min_tokens=1)
    assert out["n_sentences"] == 0  # sentence 0 has constant depth, sentence 1 one token


def test_missing_features_are_reported(tmp_path):
    t = tokens_with_depth(n_sent=5).drop(columns=["depth", "log_frequency", "length"])
    store = ActivationStore.from_arrays(tmp_path / "s", {"layer1.h": np.random.rand(len(t), 3)}, t)
    res = correlate(store)
    assert set(res.skipped) == {"depth", "log_frequency", "length"} and res.depth.empty
    with pytest.raises(RnnscopeError, match="none of the features"):
        correlate(store, features=["depth"])
