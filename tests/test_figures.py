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
    from rnnscope.analysis.match import match_spans
    from rnnscope.analysis.word_sets import word_set_pca
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


# -- the report's redesigned figures (issue 15) ------------------------------------------------
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from rnnscope.figures import (correlation_overview, lexical_preference, match_view,  # noqa: E402
                              match_view_of, unit_memory)
from rnnscope.figures.correlations import BOX_GID  # noqa: E402
from rnnscope.figures.io import FIXED_LAYOUT  # noqa: E402
from rnnscope.figures.lexical import LABEL_GID, place_labels  # noqa: E402
from rnnscope.figures.matches import SPAN_GID  # noqa: E402


def _colourbar_axes(fig):
    return [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def _matched_corpus():
    """Six sentences 'the dog runs now here ok'; units 0 and 1 on across 'dog runs' only."""
    words = ["the", "dog", "runs", "now", "here", "ok"]
    tags = ["DET", "NOUN", "VERB", "ADV", "ADV", "INTJ"]
    tokens = pd.DataFrame({"sentence": np.repeat(np.arange(6), 6), "token": words * 6,
                           "upos": tags * 6})
    states = np.full((36, 5), -0.5)
    for s in range(6):
        states[6 * s + 1: 6 * s + 3, :2] = 0.4 + 0.1 * s     # later sentences: stronger
    return tokens, states


def test_match_view_has_one_row_per_match_a_colour_bar_and_an_annotation_track():
    from rnnscope.analysis.match import match_spans
    tokens, states = _matched_corpus()
    res = match_spans(states, tokens, 1, 3, top=4)
    assert res.units.tolist() == [0, 1] and len(res.table) == 4
    fig = match_view_of(res, states, tokens, annotation="upos", context=2)
    ax = fig.axes[0]
    spans = [p for p in ax.patches if p.get_gid() == SPAN_GID]
    assert len(spans) == 1 + len(res.table)                 # the selection, then each match
    assert {round(p.get_x(), 6) for p in spans} == {0.0}    # rows aligned on the matched span
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("selection") == 1 and all(f"#{k}" in texts for k in range(1, 5))
    assert texts.count("NOUN") == 5 and texts.count("upos") == 5   # a tag track under every row
    (cbar,) = _colourbar_axes(fig)
    assert "mean state of the 2 selected units" in cbar.get_xlabel()
    # cells follow the values: the span cells (positive) are blue, the context (negative) red
    faces = ax.collections[0].get_facecolors()
    assert len(faces) == 5 * 5                    # 5 rows of 'the [dog runs] now here' (context 2)
    span_cell, ctx_cell = faces[1], faces[0]                # 'dog' vs 'the' of the selection row
    assert span_cell[2] > span_cell[0] and ctx_cell[0] > ctx_cell[2]
    assert getattr(fig, FIXED_LAYOUT)


def test_match_view_checks_its_rows():
    with pytest.raises(RnnscopeError, match="span"):
        match_view([["a", "b"]], [[0.1, 0.2]], [(1, 3)])
    with pytest.raises(RnnscopeError, match="values"):
        match_view([["a", "b"]], [[0.1]], [(0, 1)])
    with pytest.raises(RnnscopeError, match="annotations"):
        match_view([["a", "b"]], [[0.1, 0.2]], [(0, 1)], annotations=[["X"]])
    fig = match_view([["a", "b", "c"], ["d", "e"]], [[0.1, -0.2, 0.3], [0.0, 0.5]], [(1, 2), (0, 2)],
                     labels=["#1", "#2"])
    assert len([p for p in fig.axes[0].patches if p.get_gid() == SPAN_GID]) == 2
    assert len(_colourbar_axes(fig)) == 1


def test_correlation_overview_is_one_figure_with_every_feature():
    rng = np.random.default_rng(0)
    feats = ["position", "length", "depth", "log_frequency"]
    table = pd.concat([pd.DataFrame({"key": key, "unit": np.arange(20), "feature": f,
                                     "pearson": rng.uniform(-0.3, 0.3, 20)})
                       for key in ("layer1.h", "layer1.c") for f in feats], ignore_index=True)
    table.loc[(table["feature"] == "depth") & (table["unit"] == 7) & (table["key"] == "layer1.h"),
              "pearson"] = 0.9
    fig = correlation_overview(table, highlight=[7, 3])
    (ax,) = fig.axes                                             # one axis holds everything
    assert [t.get_text() for t in ax.get_xticklabels()] == ["position", "length", "depth", "log frequency"]
    boxes = [p for p in ax.patches if p.get_gid() == BOX_GID]
    assert len(boxes) == len(feats) * 2                          # a box per feature and key
    assert "u7" in [t.get_text() for t in ax.texts]              # the strongest unit named
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["unit 7", "unit 3"] and "layer1.c" in legend
    with pytest.raises(RnnscopeError, match="pearson"):
        correlation_overview(table.drop(columns="pearson"))


def _vocabulary(n=400, seed=0):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 12))
    words = [f"word{k}" for k in range(n)]
    freq = rng.integers(0, 60, n).astype(float)
    act = np.where(freq > 0, rng.uniform(-0.8, 0.8, n), np.nan)
    return emb, words, freq, act


def test_lexical_preference_labels_few_words_without_overlap():
    emb, words, freq, act = _vocabulary()
    fig = lexical_preference(emb, words, freq, act, max_labels=15, n_ranked=8)
    scatter, cbar, bars = fig.axes
    labels = [t for t in scatter.texts if t.get_gid() == LABEL_GID]
    assert 5 <= len(labels) <= 15 and len(scatter.texts) == len(labels)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    inside = scatter.get_window_extent(renderer)
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1
               for b in boxes)
    score = np.log1p(freq) * np.abs(np.nan_to_num(act))
    assert labels[0].get_text() == words[int(np.argmax(score))]   # the strongest word first
    assert "mean activation" in cbar.get_xlabel() and _colourbar_axes(fig) == [cbar]
    ticks = [t.get_text().split(" (")[0] for t in bars.get_yticklabels()]
    common = np.flatnonzero(freq >= 3)
    assert ticks[0] == words[common[np.argmax(act[common])]]      # highest mean first
    assert ticks[-1] == words[common[np.argmin(act[common])]]     # lowest last
    assert len(ticks) == 16
    with pytest.raises(RnnscopeError, match="one entry per vocabulary item"):
        lexical_preference(emb, words[:-1], freq, act)


def test_place_labels_skips_labels_that_would_overlap():
    from matplotlib.figure import Figure
    fig = Figure(figsize=(3, 3))
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.1, 0.1, 0.8, 0.8))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    points = np.full((30, 2), 0.5)                       # all on one spot: room for few labels
    placed = place_labels(ax, points, [f"label{k}" for k in range(30)], 30, canvas.get_renderer())
    assert 1 <= len(placed) <= len(points) // 3 and len(ax.texts) == len(placed)


def test_unit_memory_draws_one_relative_curve_per_unit():
    fig = unit_memory({"unit 1": [2.0, 1.0, 0.5], "unit 2": [1.0, 0.9, 0.8]})
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and ax.get_yscale() == "log"
    assert ax.lines[0].get_ydata().tolist() == [1.0, 0.5, 0.25]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["unit 1", "unit 2"]


def test_a_fixed_layout_figure_is_saved_uncropped():
    import base64
    import io

    from PIL import Image
    fig = unit_memory({"u": [1.0, 0.5]})
    png = base64.b64decode(figure_to_data_uri(fig, dpi=50).split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (int(5.6 * 50), int(3.2 * 50))
