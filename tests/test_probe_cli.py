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


def test_probe_control_na_line_and_option(tmp_path):
    from test_probe import _store_with_tags

    store = _store_with_tags(tmp_path, {})
    r = run("probe", store.path, "--feature", "Case")
    assert r.exit_code == 0, r.output
    notes = [line for line in r.output.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "keeps the real N/A pattern" in notes[0]
    assert "--control-na shuffle" in notes[0]
    r = run("probe", store.path, "--feature", "Case", "--control-na", "shuffle")
    assert r.exit_code == 0, r.output
    assert "note: control task: N/A is drawn per word type too" in r.output
    r = run("probe", store.path, "--feature", "xpos")             # no N/A words: no note
    assert r.exit_code == 0 and "note:" not in r.output
    r = run("probe", store.path, "--feature", "Case", "--control-na", "shuffle", "--no-control")
    assert r.exit_code == 2 and r.output.strip() == \
        "error: --control-na needs the control task: drop --no-control"


def test_probe_min_count_over_offsets_runs_and_says_what_it_left_out(tmp_path):
    from test_probe import _store_with_tags

    store = _store_with_tags(tmp_path, {0: "UH"})
    r = run("probe", store.path, "--feature", "xpos", "--offsets", "1,0,-1", "--no-control")
    assert r.exit_code == 2 and r.output.startswith("error: offset +0: xpos class 'UH'")
    assert "--min-count 2" in r.output
    r = run("probe", store.path, "--feature", "xpos", "--offsets", "1,0,-1", "--no-control",
            "--min-count", "2")
    assert r.exit_code == 0, r.output
    assert r.output.count("note: --min-count 2: 1 rare xpos class (UH) left out") == 2


def test_concepts_paper_rank_split_and_min_count(tmp_path):
    from test_concepts import _rare_tag_store

    store = _rare_tag_store(tmp_path, {5: "UH"})
    r = run("concepts", store.path, "--feature", "xpos", "--rank", "raw", "--split", "80/10/10",
            "--Cs", "0.01,1", "--k", "1", "--min-count", "2", "--csv", tmp_path / "c.csv")
    assert r.exit_code == 0, r.output
    assert "note: --min-count 2: 1 rare xpos class (UH) left out" in r.output
    assert "units ranked by L1 weight on raw units; split 80/10/10 (" in r.output
    assert " dev / " in r.output and "C chosen on dev (k = all): DT 1," in r.output
    import pandas as pd
    table = pd.read_csv(tmp_path / "c.csv")
    assert set(table["C"]) <= {0.01, 1.0} and "UH" not in set(table["class"])
    dt = table[(table["class"] == "DT") & (table["k"] == "all")].iloc[0]
    assert str(dt["top_units"]).split()[0] == "2"                  # the planted unit
    for bad, message in ((["--split", "70/20"], "error: split must be TRAIN/TEST"),
                         (["--Cs", "0.1,1"], "error: --Cs needs a split with a dev part"),
                         (["--split", "90/10", "--test-size", "0.2"],
                          "error: give --split or --test-size, not both"),
                         (["--rank", "zscore"], "Invalid value for '--rank'")):
        r = run("concepts", store.path, "--feature", "xpos", "--min-count", "2", *bad)
        assert r.exit_code == 2 and message in r.output, (bad, r.output)
