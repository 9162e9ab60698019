"""The CLI verbs of issue 3 on a planted store: tables printed, files written, one-line errors."""
from __future__ import annotations

import numpy as np
from click.testing import CliRunner
from test_concepts import planted_store

from rnnscope.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_probe_concepts_correlate_commands(tmp_path):
    store = planted_store(tmp_path)
    r = run("probe", store.path, "--feature", "xpos", "--csv", tmp_path / "p.csv",
            "--plot", tmp_path / "p.png")
    assert r.exit_code == 0, r.output
    assert "layer1.f" in r.output and (tmp_path / "p.png").exists()
    r = run("concepts", store.path, "--feature", "xpos", "--key", "layer1.f", "--class", "DT",
            "--plot", tmp_path / "w.png", "--csv", tmp_path / "c.csv")
    assert r.exit_code == 0, r.output
    assert "17" in r.output.split("DT")[-1].splitlines()[0]  # top units of DT start with 17
    r = run("correlate", store.path, "--features", "position")
    assert r.exit_code == 0, r.output and "pearson" in r.output


def test_bad_input_is_one_line(tmp_path):
    store = planted_store(tmp_path)
    r = run("probe", store.path, "--feature", "Gender")
    assert r.exit_code == 2 and r.output.strip().startswith("error: no token has feature 'Gender'")
    assert len(r.output.strip().splitlines()) == 1
    r = run("concepts", store.path, "--key", "layer1.c")
    assert r.exit_code == 2 and "has no component" in r.output
    r = run("probe", tmp_path / "nowhere")
    assert r.exit_code == 2 and "no activation store" in r.output
