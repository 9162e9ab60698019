"""Figures draw what they are given: colours follow values, sizes follow scores, bars follow tables."""
from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle

from rnnscope.errors import RnnscopeError
from rnnscope.figures import (activation_over_positions, component_accuracy, dynamics_curves,
                              figure_to_data_uri, lexical_space, match_histogram, memory_curves,
                              save_figure, text_activation, text_probability)
from rnnscope.figures.lexical import word_statistics

matplotlib.use("Agg")


def _cells(fig):
    ax = fig.axes[0]
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_text_activation_colours_by_tanh_and_highlights_the_class():
    tokens = ["the", "dog", "runs", "fast"]
    fig = text_activation(tokens, [-3.0, 0.0, 3.0, 0.2], tags=["DET", "NOUN", "VERB", "ADV"],
                          highlight="VERB")
    cells = _cells(fig)
    token_cells = [p for p in cells if p.get_edgecolor()[:3] == (1.0, 1.0, 1.0)]
    assert len(token_cells) == 4
    neg, zero, pos = (np.array(token_cells[k].get_facecolor()[:3]) for k in range(3))
    assert neg[0] > neg[2] and neg[0] > neg[1] + 0.2   # strongly negative: red
    assert pos[2] > pos[0] + 0.3            # strongly positive: blue
    assert zero.min() > 0.9                 # zero: white
    yellow = [p for p in cells if matplotlib.colors.to_hex(p.get_facecolor()) == "#ffe14d"]
    assert len(yellow) == 1                 # only the VERB tag is highlighted
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "VERB" in texts and "dog" in texts


def test_text_activation_normalise_stretches_small_units():
    plain = text_activation(["a", "b"], [0.05, -0.01])
    stretched = text_activation(["a", "b"], [0.05, -0.01], normalise=True)
    blue = lambda fig: np.array(_cells(fig)[0].get_facecolor()[:3])  # noqa: E731
    assert blue(plain).min() > 0.9                              # nearly white
    assert blue(stretched)[0] < 0.2                             # the peak token is full blue
    assert "/" in stretched.axes[-1].get_xlabel()


def test_text_probability_checks_range_and_colours_high_probability_darker():
    fig = text_probability(list("ab c"), [0.0, 1.0, 0.5, 0.0])
    c = [np.array(p.get_facecolor()[:3]).sum() for p in _cells(fig)]
    assert c[1] < c[2] < c[0]
    assert "␣" in [t.get_text() for t in fig.axes[0].texts]   # separator made visible
    with pytest.raises(RnnscopeError, match="probabilities"):
        text_probability(["a"], [1.5])
    with pytest.raises(RnnscopeError, match="tokens"):
        text_activation(["a", "b"], [0.1])


def test_match_histogram_splits_match_and_no_match():
    rng = np.random.default_rng(0)
    v = np.r_[rng.normal(-1, 0.1, 30), rng.normal(1, 0.1, 70)]
    m = np.r_[np.ones(30, bool), np.zeros(70, bool)]
    fig = match_histogram(v, m, title="unit 5")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["no match (n=70)", "match (n=30)"]
    with pytest.raises(RnnscopeError):
        match_histogram(v, m[:5])


def test_lexical_space_sizes_and_fades_by_activation():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(30, 8))
    words = [f"w{k}" for k in range(30)]
    freq = np.full(30, 10.0)
    act = np.full(30, 0.05)
    act[7] = 0.9                            # the unit's favourite word
    act[3] = np.nan                         # unseen: not written
    fig = lexical_space(emb, words, freq, act, max_words=30)
    texts = {t.get_text(): t for t in fig.axes[0].texts}
    assert "w3" not in texts and "w7" in texts
    assert max(texts.values(), key=lambda t: t.get_fontsize()).get_text() == "w7"
    assert texts["w7"].get_alpha() == pytest.approx(1.0)
    assert texts["w0"].get_alpha() < 0.2
    freq2, mean2 = word_statistics(pd.Series(["w1", "w1", "w2"]), np.array([1.0, 3.0, 5.0]), words)
    assert freq2[1] == 2 and mean2[1] == 2.0 and freq2[0] == 0 and np.isnan(mean2[0])


def test_component_accuracy_bars_follow_the_table():
    table = pd.DataFrame({"component": ["h", "c", "h", "c"], "layer": [1, 1, 2, 2],
                          "accuracy": [0.5, 0.6, 0.7, 0.8]})
    fig = component_accuracy(table, baseline=0.3)
    heights = sorted(round(p.get_height(), 3) for p in fig.axes[0].patches)
    assert heights == [0.5, 0.6, 0.7, 0.8]
    with pytest.raises(RnnscopeError, match="accuracy"):
        component_accuracy(table.drop(columns="accuracy"))


def test_memory_and_dynamics_curves_draw_one_line_per_series():
    mem = pd.DataFrame({"delay": [0, 1, 2] * 2, "sigma1": [1, 0.5, 0.2, 2, 1, 0.7],
                        "ratio": [0.5, 0.4, 0.3, 0.6, 0.5, 0.4], "model": ["lstm"] * 3 + ["gru"] * 3})
    fig = memory_curves(mem)
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert fig.axes[0].get_yscale() == "log"
    dyn = pd.DataFrame({"position": ["the", "boy", "near", "the", "boy", "near"],
                        "condition": ["SS"] * 3 + ["SP"] * 3, "mean": [0, 1, 2, 0, -1, -2],
                        "std": [0.1] * 6})
    fig = dynamics_curves(dyn)
    assert len(fig.axes[0].lines) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["the", "boy", "near"]
    fig = activation_over_positions(["a", "b", "c"], np.eye(3)[:, :2], labels=["u0", "u1"])
    assert len(fig.axes[0].lines) == 3      # two units + the zero line


def test_save_figure_png_svg_and_data_uri(tmp_path):
    fig = text_activation(["a", "b"], [1.0, -1.0])
    png = save_figure(fig, tmp_path / "t.png", close=False)
    svg = save_figure(fig, tmp_path / "t.svg", close=False)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()[:500]
    assert figure_to_data_uri(fig).startswith("data:image/png;base64,iVBOR")
    with pytest.raises(RnnscopeError, match=".png or .svg"):
        save_figure(fig, tmp_path / "t.jpg")


def test_match_result_plots():
    from rnnscope.analysis.match import match_spans, word_set_pca
    tokens = pd.DataFrame({"sentence": [0] * 6 + [1] * 6, "token": list("abcxyz") * 2})
    states = np.full((12, 4), -1.0)
    states[[0, 1, 6, 7], 1] = 1.0
    fig = match_spans(states, tokens, 0, 2).plot()
    assert fig.axes[0].get_images()[0].get_array().shape == (2, 1)
    rng = np.random.default_rng(0)
    res = word_set_pca(rng.normal(size=(12, 5)), tokens, {"ab": ["a", "b"], "xy": ["x", "y"]})
    assert len(res.plot().axes[0].collections) == 2


def test_match_histogram_with_one_empty_group_draws_only_the_other():
    fig = match_histogram(np.arange(10.0), np.zeros(10, bool), labels=("x", "all tokens"))
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["all tokens (n=10)"]
