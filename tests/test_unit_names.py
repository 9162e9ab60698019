"""One syntax for a unit everywhere (``layer2.c:126``): the parser, the formatter, and the
commands that take units (the older ``2:126`` and global numbers still work)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from rnnscope.agreement import generate, load_wordpools
from rnnscope.agreement.ablation import subset_ablation
from rnnscope.agreement.dynamics import unit_dynamics
from rnnscope.agreement.units import parse_units as parse_pairs
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError
from rnnscope.keys import global_unit
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.units import add_unit_names, parse_unit, parse_units, unit_name
from tests.test_ablation import na_vocab, one_thread  # noqa: F401

LSTM = ("h", "c", "i", "f", "o", "g")
UNEVEN = (400, 1150, 400)


# -- the parser and the formatter ------------------------------------------------------------
@pytest.mark.parametrize("layer,comp,unit", [(1, "h", 0), (2, "c", 126), (3, "f", 399),
                                             (2, "g", 1149)])
def test_unit_name_round_trips_through_parse_unit(layer, comp, unit):
    name = unit_name(layer, comp, unit)
    assert name == f"layer{layer}.{comp}:{unit}"
    assert parse_unit(name, UNEVEN, LSTM) == (layer, comp, unit)


def test_global_numbers_with_equal_and_unequal_layer_sizes():
    assert parse_unit("775", (650, 650), LSTM, "h") == (2, "h", 125)
    assert parse_unit("649", (650, 650), LSTM, "c") == (1, "c", 649)
    assert parse_unit("0", (650, 650), default_component="h") == (1, "h", 0)
    assert parse_unit("399", UNEVEN, default_component="h") == (1, "h", 399)
    assert parse_unit("400", UNEVEN, default_component="h") == (2, "h", 0)
    assert parse_unit("1549", UNEVEN, default_component="h") == (2, "h", 1149)
    assert parse_unit("1550", UNEVEN, default_component="h") == (3, "h", 0)
    assert parse_unit("1949", UNEVEN, default_component="h") == (3, "h", 399)
    for layer, unit in ((1, 5), (2, 700), (3, 17)):  # the inverse of keys.global_unit
        g = global_unit(layer, unit, UNEVEN)
        assert parse_unit(str(g), UNEVEN, default_component="h") == (layer, "h", unit)
    with pytest.raises(RnnscopeError, match=r"global number 1950 is outside 0\.\.1949"):
        parse_unit("1950", UNEVEN, default_component="h")


def test_legacy_layer_colon_unit_takes_the_callers_component():
    assert parse_unit("2:126", (650, 650), LSTM, "h") == (2, "h", 126)
    assert parse_unit("2:126", (650, 650), LSTM, "c") == (2, "c", 126)
    assert parse_units("2:126, layer2.h:126,2:126", (650, 650), LSTM, "h") == [(2, "h", 126)]


def test_ranges_stars_lists_keep_order_and_drop_repeats():
    sizes = (4, 6)
    assert parse_units("layer2.h:0-2", sizes) == [(2, "h", 0), (2, "h", 1), (2, "h", 2)]
    assert parse_units("layer1.c:*", sizes) == [(1, "c", u) for u in range(4)]
    assert parse_units("2:*", sizes, default_component="h") == [(2, "h", u) for u in range(6)]
    assert parse_units("layer2.h:5,layer1.c:1-2,layer2.h:5,5", sizes, default_component="h") == \
        [(2, "h", 5), (1, "c", 1), (1, "c", 2), (2, "h", 1)]  # 5 = 4 + 1
    # one layer's h and c are different units of the list, the pairs form merges them
    assert parse_units("layer1.h:3,layer1.c:3", sizes) == [(1, "h", 3), (1, "c", 3)]
    cfg = ModelConfig(vocab_size=10, num_layers=2, layer_sizes=sizes)
    assert parse_pairs("layer1.h:3,layer1.c:3,2:0", cfg, usable=("h", "c")) == [(1, 3), (2, 0)]
    # with ``layer`` (a viewer's --key), bare numbers are units of that layer, not global
    assert parse_units("3,5", sizes, default_component="c", layer=2) == [(2, "c", 3), (2, "c", 5)]


@pytest.mark.parametrize("spec,kw,message", [
    ("layer3.h:1", {}, r"layer 3 does not exist \(layers 1\.\.2\)"),
    ("layer0.h:1", {}, r"layer 0 does not exist"),
    ("3:1", {"default_component": "h"}, r"layer 3 does not exist \(layers 1\.\.2\)"),
    ("layer2.h:6", {}, r"'layer2.h:6' is out of range: 6 is outside 0\.\.5 \(layer2.h has 6 units\)"),
    ("layer1.h:2-9", {}, r": 4 is outside 0\.\.3"),
    ("layer1.h:3-1", {}, r"range 3-1 is empty"),
    ("10", {"default_component": "h"}, r"global number 10 is outside 0\.\.9"),
    ("layer1.q:0", {"components": LSTM}, r"records no component 'q' \(it records h, c, i, f, o, g\)"),
    ("layer2.c:5", {"usable": ("h",), "why": "--mode h ablates the hidden state h"},
     r"'layer2.c:5': --mode h ablates the hidden state h, not 'c'; write layer2.h:5"),
    ("2:5", {}, r"'2:5': say which component, e.g. layer2.h:5"),
    ("7", {}, r"'7': say which component, e.g. layer2.h:3"),
    ("layer2.h", {}, r"bad unit 'layer2.h': write e.g. layer2.h:126"),
    ("layer2.h:x", {}, r"bad unit 'layer2.h:x'"),
    ("-1", {"default_component": "h"}, r"bad unit '-1'"),
    (" , ", {}, r"no unit given"),
])
def test_each_error_is_one_line_naming_the_bad_part(spec, kw, message):
    with pytest.raises(RnnscopeError, match=message) as info:
        parse_units(spec, (4, 6), **kw)
    assert "\n" not in str(info.value)


def test_parse_unit_wants_exactly_one_and_width_limits_a_component():
    with pytest.raises(RnnscopeError, match="names 3 units; give one"):
        parse_unit("layer1.h:0-2", (4, 6))
    width = lambda n, c: 2 if c == "h" else (4, 6)[n - 1]  # noqa: E731 (a projecting h)
    assert parse_unit("layer1.c:3", (4, 6), width=width) == (1, "c", 3)
    with pytest.raises(RnnscopeError, match=r"outside 0\.\.1 \(layer1.h has 2 units\)"):
        parse_unit("layer1.h:3", (4, 6), width=width)


def test_add_unit_names_inserts_a_column_after_global_unit():
    t = pd.DataFrame({"layer": [1, 2], "unit": [3, 0], "global_unit": [3, 4], "x": [0.5, 0.1]})
    named = add_unit_names(t, "h")
    assert list(named.columns) == ["layer", "unit", "global_unit", "unit_name", "x"]
    assert named["unit_name"].tolist() == ["layer1.h:3", "layer2.h:0"]
    assert "unit_name" not in t.columns  # a copy
    rows = pd.DataFrame({"layer": [1, 1], "unit": [3, 3], "component": ["c", "i"]})
    assert add_unit_names(rows, component_column="component")["unit_name"].tolist() == \
        ["layer1.c:3", "layer1.i:3"]
    assert add_unit_names(pd.DataFrame({"a": [1]}), "h").columns.tolist() == ["a"]


# -- the commands -----------------------------------------------------------------------------
SIZES = (5, 7)


@pytest.fixture(scope="module")
def two_layers(tmp_path_factory):
    """A random 2-layer word LSTM of 5 + 7 units over the agreement vocabulary."""
    pools = load_wordpools()
    vocab = na_vocab(pools)
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=len(vocab), emb_dim=6, num_layers=2,
                                    layer_sizes=SIZES)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)
    path = tmp_path_factory.mktemp("two") / "model"
    save_model(model, vocab, path)
    return path, model, vocab


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_ablate_subset_canonical_legacy_and_global_are_the_same(two_layers, tmp_path):
    path, model, vocab = two_layers
    outputs = {}
    for name, spec in (("canonical", "layer2.h:1,layer2.h:3"), ("legacy", "2:1,2:3"),
                       ("global", "6,8")):
        r = run("ablate", path, "--tasks", "NounPP", "--n", 15, "--case", "keep", "--subset",
                spec, "--n-random", 20, "--out", tmp_path / name)
        assert r.exit_code == 0, r.output
        assert "subset ablation (h) of layer2.h:1, layer2.h:3 vs 20 random sets" in r.output
        outputs[name] = ((tmp_path / name / "subset_ablation.csv").read_text(),
                         (tmp_path / name / "subset_random_accuracy.csv").read_text())
    assert outputs["canonical"] == outputs["legacy"] == outputs["global"]
    # and it is layer 2's units 1 and 3 that were ablated
    items = generate(["NounPP"], n=15, seed=0, capitalize=True)
    want = subset_ablation(model, vocab, items, [(2, 1), (2, 3)], n_random=20, progress=False)
    got = pd.read_csv(tmp_path / "canonical" / "subset_ablation.csv")
    np.testing.assert_allclose(got["subset"], want.table["subset"].round(4))
    np.testing.assert_allclose(got["p"], want.table["p"].round(4))
    r = run("ablate", path, "--tasks", "NounPP", "--n", 2, "--mode", "c", "--subset",
            "layer2.h:1", "--n-random", 2)
    assert r.exit_code == 2
    assert "--subset: unit 'layer2.h:1': --mode c ablates the cell state c, not 'h'; write " \
           "layer2.c:1" in r.output


def test_ablate_sweep_csv_names_every_unit(two_layers, tmp_path):
    path, _, _ = two_layers
    r = run("ablate", path, "--tasks", "Simple", "--n", 4, "--case", "keep", "--mode", "c",
            "--out", tmp_path)
    assert r.exit_code == 0, r.output
    sweep = pd.read_csv(tmp_path / "ablation_sweep.csv")
    assert list(sweep.columns[:4]) == ["layer", "unit", "global_unit", "unit_name"]
    firsts = sweep.drop_duplicates("global_unit")
    assert firsts["unit_name"].tolist() == [f"layer1.c:{u}" for u in range(5)] + \
        [f"layer2.c:{u}" for u in range(7)]
    assert firsts["global_unit"].tolist() == list(range(12))


def test_dynamics_accepts_the_canonical_form(two_layers, tmp_path):
    path, model, vocab = two_layers
    tables = {}
    for name, spec in (("canonical", "layer2.c:3"), ("legacy", "2:3"), ("global", "8")):
        r = run("dynamics", path, "--tasks", "NounPP", "--n", 3, "--case", "keep", "--units",
                spec, "--components", "c,h", "--out", tmp_path / name)
        assert r.exit_code == 0, r.output
        assert (tmp_path / name / "dynamics_NounPP_2_3.png").is_file()
        tables[name] = pd.read_csv(tmp_path / name / "dynamics.csv")
    pd.testing.assert_frame_equal(tables["canonical"], tables["legacy"])
    pd.testing.assert_frame_equal(tables["canonical"], tables["global"])
    t = tables["canonical"]
    assert set(t["unit_name"]) == {"layer2.c:3", "layer2.h:3"}
    assert (t["unit_name"] == "layer2." + t["component"] + ":3").all()
    items = generate(["NounPP"], n=3, seed=0, capitalize=True)
    want = unit_dynamics(model, vocab, items, [(2, 3)], ["c", "h"]).table
    np.testing.assert_allclose(t["mean"], want["mean"].round(4))
    r = run("dynamics", path, "--tasks", "NounPP", "--n", 3, "--units", "layer3.c:3")
    assert r.exit_code == 2
    assert "--units: unit 'layer3.c:3': layer 3 does not exist (layers 1..2)" in r.output


def test_connectivity_and_time_decoding_take_and_print_names(two_layers, tmp_path):
    path, _, _ = two_layers
    r = run("connectivity", path, "--sources", "layer1.h:4", "--targets", "layer2.h:6",
            "--out", tmp_path)
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "connectivity.csv")
    assert t["source_name"].tolist() == ["layer1.h:4"] * 4
    assert t["target_name"].tolist() == ["layer2.i:6", "layer2.f:6", "layer2.g:6", "layer2.o:6"]
    r = run("connectivity", path, "--sources", "layer1.c:4", "--targets", "2:6")
    assert r.exit_code == 2 and "a unit projects through its h, not 'c'; write layer1.h:4" in r.output
    r = run("time-decoding", path, "--tasks", "NounPP", "--n", 12, "--units", "layer2.h:*",
            "--cv", 3)
    assert r.exit_code == 2
    assert "time-decoding decodes --component c, not 'h'; write layer2.c:*" in r.output


def test_figure_unit_names_its_key(tmp_path, monkeypatch):
    from rnnscope import figures
    from rnnscope.store import ActivationStore

    tokens = pd.DataFrame({"sentence": [0, 0, 0, 1, 1], "position": [0, 1, 2, 0, 1],
                           "token": list("abcde"), "word": list("abcde"),
                           "word_index": [0, 1, 2, 0, 1], "is_word_end": [True] * 5,
                           "upos": ["DET", "NOUN", "VERB", "DET", "NOUN"]})
    rng = np.random.default_rng(0)
    arrays = {"layer1.h": rng.normal(size=(5, 3)), "layer2.h": rng.normal(size=(5, 4)),
              "layer2.c": rng.normal(size=(5, 4))}
    store = ActivationStore.from_arrays(tmp_path / "s", arrays, tokens)
    seen = []
    monkeypatch.setattr(figures, "text_activation",
                        lambda toks, values, **kw: seen.append((np.asarray(values), kw["title"]))
                        or _figure())
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: str(path))
    base = ["figure", "text", "--store", store.path, "--out", str(tmp_path / "t.png")]
    for extra in (["--unit", "layer2.c:1"], ["--key", "layer2.c", "--unit", "1"],
                  ["--key", "layer2.c", "--unit", "layer2.c:1"]):
        r = run(*base, *extra)
        assert r.exit_code == 0, r.output
    want = store.get("layer2.c", slice(0, 3))[:, 1]
    for values, title in seen:
        np.testing.assert_allclose(values, want)
        assert title == "layer2.c:1"
    r = run(*base, "--key", "layer1.h", "--unit", "layer2.c:1")
    assert r.exit_code == 2 and "names layer2.c, but --key is layer1.h" in r.output
    r = run(*base, "--unit", "layer2.f:1")
    assert r.exit_code == 2 and "the store has no layer2.f" in r.output
    captured = []
    monkeypatch.setattr(figures, "activation_over_positions",
                        lambda toks, values, labels, title: captured.append((values, labels))
                        or _figure())
    r = run("figure", "positions", "--store", store.path, "--units", "layer1.h:2,layer2.c:0-1",
            "--out", str(tmp_path / "p.png"))
    assert r.exit_code == 0, r.output
    values, labels = captured[-1]
    assert labels == ["layer1.h:2", "layer2.c:0", "layer2.c:1"]
    np.testing.assert_allclose(values[:, 0], store.get("layer1.h", slice(0, 3))[:, 2])
    np.testing.assert_allclose(values[:, 2], store.get("layer2.c", slice(0, 3))[:, 1])


def _figure():
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    return fig


def test_concept_causality_unit_canonical_or_of_the_key(tmp_path):
    from rnnscope.corpus.types import Corpus, Sentence
    from rnnscope.extract import extract
    from rnnscope.vocab import Vocabulary
    from tests.test_concepts_causal import UNIT, planted_model, sequences

    model, vocab = planted_model(), Vocabulary("word", ["a", "b", "c", "d"])
    seqs, _ = sequences(n=12)
    words = [[vocab.itos[t] for t in s[1:]] for s in seqs]
    corpus = Corpus([Sentence(w, annotations={"xpos": ["A" if x == "a" else "X" for x in w]})
                     for w in words])
    extract(model, vocab, corpus, tmp_path / "s", components=["h", "c"], dtype="float32",
            progress=False)
    save_model(model, vocab, tmp_path / "m")
    base = ["concept-causality", tmp_path / "s", "--model", tmp_path / "m", "--feature", "xpos",
            "--no-concepts", "--n-random", 4, "--value", "zero"]
    tables = {}
    for name, extra in (("canonical", ["--unit", f"layer1.c:{UNIT}"]),
                        ("of the key", ["--key", "layer1.c", "--unit", f"1:{UNIT}"]),
                        ("global", ["--key", "layer1.c", "--unit", str(UNIT)])):
        r = run(*base, *extra, "--csv", tmp_path / f"{name}.csv")
        assert r.exit_code == 0, r.output
        tables[name] = pd.read_csv(tmp_path / f"{name}.csv")
    t = tables["canonical"]
    assert set(t["unit_name"]) == {f"layer1.c:{UNIT}"} and set(t["key"]) == {"layer1.c"}
    assert t.set_index("class").loc["A", "delta_class"] > 1.0  # the planted unit is causal
    pd.testing.assert_frame_equal(t, tables["of the key"])
    pd.testing.assert_frame_equal(t, tables["global"])
    r = run(*base, "--unit", f"layer1.q:{UNIT}")
    assert r.exit_code == 2
    assert "--unit: unit 'layer1.q:3': the cell records no component 'q'" in r.output
