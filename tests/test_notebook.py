"""Results render themselves in Jupyter (``_repr_html_``): a title, the table, the figure."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from dataclasses import dataclass, fields, is_dataclass

import numpy as np
import pandas as pd
import pytest
import torch

import rnnscope.agreement
import rnnscope.analysis
from rnnscope.agreement import generate, load_wordpools, score
from rnnscope.agreement.patching import patch_sweep
from rnnscope.analysis.concepts import concept_neurons
from rnnscope.analysis.memory import memory
from rnnscope.notebook import HtmlRepr
from tests.conftest import tiny_model
from tests.test_ablation import na_vocab, number_unit_model

PNG = '<img src="data:image/png;base64,'


@pytest.fixture(scope="module")
def agreement_setup():
    pools = load_wordpools()
    vocab = na_vocab(pools)
    return number_unit_model(pools, vocab), vocab, generate(["Simple"], n=4, seed=0)


def _open_figures() -> list[int]:
    import matplotlib.pyplot as plt

    return plt.get_fignums()


def test_results_with_a_plot_show_table_and_figure(agreement_setup):
    model, vocab, items = agreement_setup
    rng = np.random.default_rng(0)
    labels = rng.choice(["NN", "VB", "JJ"], 200)
    states = rng.normal(size=(200, 6)) + 2.0 * (labels == "NN")[:, None]
    seqs = [torch.randint(0, 50, (10,)) for _ in range(2)]
    results = [score(model, vocab, items),
               concept_neurons(states, labels, k=2, key="layer1.c", feature="xpos"),
               memory(tiny_model(layers=1, hidden=8), seqs, "layer1.c", 3)]
    before = _open_figures()
    for res in results:
        html = res._repr_html_()
        assert f"<b>{type(res).__name__}</b>" in html
        assert "<table" in html and html.count(PNG) == 1, type(res).__name__
    assert _open_figures() == before  # every figure drawn for the notebook was closed


def test_a_result_without_a_plot_shows_its_table_only(agreement_setup):
    model, vocab, items = agreement_setup
    res = patch_sweep(model, vocab, items, mode="both")
    html = res._repr_html_()
    assert "<table" in html and "<img" not in html
    assert "flip_rate" in html  # the declared table: the units by flip rate


def test_a_figure_that_fails_leaves_the_table():
    @dataclass
    class Broken(HtmlRepr):
        table: pd.DataFrame
        _html_plot = "plot"

        def plot(self):
            raise ValueError("nothing to draw")

    html = Broken(pd.DataFrame({"a": range(50)}))._repr_html_()
    assert "<table" in html and "no figure: ValueError: nothing to draw" in html
    assert "50 rows" in html and "..." in html  # long tables are cut to the first/last rows


def _result_classes():
    for package in (rnnscope.analysis, rnnscope.agreement):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module.__name__ and name.endswith("Result") \
                        and not name.startswith("_"):
                    yield cls


def test_every_result_class_renders_and_declares_real_attributes():
    classes = list(_result_classes())
    assert len(classes) >= 15
    for cls in classes:
        assert issubclass(cls, HtmlRepr), f"{cls.__name__} has no _repr_html_"
        names = {f.name for f in fields(cls)} if is_dataclass(cls) else set()
        assert cls._html_table in names or hasattr(cls, cls._html_table), cls.__name__
        assert cls._html_plot is None or callable(getattr(cls, cls._html_plot)), cls.__name__


def test_importing_the_mixin_does_not_import_matplotlib():
    code = ("import sys, rnnscope, rnnscope.notebook; "
            "sys.exit('matplotlib' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
