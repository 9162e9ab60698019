"""The agreement CLI commands end to end on the hand-built number-unit model."""
from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from rnnscope.agreement import load_wordpools
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from tests.test_ablation import NUMBER_UNIT, na_vocab, number_unit_model, one_thread  # noqa: F401


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    pools = load_wordpools()
    vocab = na_vocab(pools)
    path = tmp_path_factory.mktemp("m") / "model"
    save_model(number_unit_model(pools, vocab), vocab, path)
    return path


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def test_na_tasks_then_agreement(model_dir, tmp_path):
    r = run("na-tasks", tmp_path / "t", "--n", 4, "--tasks", "NounPP,Simple")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["NounPP.txt", "Simple.txt"]
    r = run("agreement", model_dir, "--lakretz", tmp_path / "t" / "NounPP.txt", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "o" / "agreement.csv")
    assert list(t["condition"]) == ["SS", "SP", "PS", "PP"] and (t["accuracy"] == 100).all()
    assert (tmp_path / "o" / "agreement.png").is_file()


def test_ablate_sweep_and_subset(model_dir, tmp_path):
    r = run("ablate", model_dir, "--tasks", "NounPP", "--n", 40, "--out", tmp_path)
    assert r.exit_code == 0, r.output
    report = pd.read_csv(tmp_path / "ablation_report.csv")
    assert list(report.columns) == ["task", "condition", str(NUMBER_UNIT), "Full"]
    assert set(pd.read_csv(tmp_path / "chance_units.csv")["unit"]) == {NUMBER_UNIT}
    r = run("ablate", model_dir, "--tasks", "NounPP", "--n", 20, "--subset", f"1:{NUMBER_UNIT}",
            "--n-random", 10, "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "subset_random_accuracy.csv")) == 10


def test_analysis_commands(model_dir, tmp_path):
    r = run("dynamics", model_dir, "--tasks", "NounPP", "--n", 5, "--units", "1:3", "--out", tmp_path)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "dynamics_NounPP_1_3.png").is_file() and (tmp_path / "efferent_weights.csv").is_file()
    r = run("time-decoding", model_dir, "--tasks", "NounPP", "--n", 12, "--units", "1:3", "--cv", 3)
    assert r.exit_code == 0, r.output
    assert "subj" in r.output
    r = run("connectivity", model_dir, "--sources", "1:5", "--targets", "1:3,1:0")
    assert r.exit_code == 0, r.output


def test_cli_errors_are_one_line(model_dir, tmp_path):
    bad = tmp_path / "s.text"
    bad.write_text("the dog runs <eos>\n")
    (tmp_path / "s.gold").write_text("9\truns\trun\t0\n")
    r = run("agreement", model_dir, "--linzen", bad)
    assert r.exit_code == 2 and "s.gold:1: target index 9 is outside the sentence" in r.output
    r = run("time-decoding", model_dir, "--n", 5)
    assert r.exit_code == 2 and "needs one task" in r.output
    r = run("ablate", model_dir, "--subset", "3:1", "--n", 2)
    assert r.exit_code == 2 and "layer 3 does not exist" in r.output


def test_model_as_option_or_positional(model_dir, tmp_path):
    """``--model PATH`` (as every other command) and the older positional MODEL give the same
    table; exactly one of the two must be given."""
    r = run("agreement", "--model", model_dir, "--tasks", "Simple", "--n", 3, "--out", tmp_path / "a")
    assert r.exit_code == 0, r.output
    r = run("agreement", model_dir, "--tasks", "Simple", "--n", 3, "--out", tmp_path / "b")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a" / "agreement.csv").read_text() == (tmp_path / "b" / "agreement.csv").read_text()
    r = run("connectivity", "--model", model_dir, "--sources", "1:5", "--targets", "1:3")
    assert r.exit_code == 0, r.output
    r = run("agreement", model_dir, "--model", model_dir, "--n", 3)
    assert r.exit_code == 2 and "not both" in r.output
    r = run("patch", "--tasks", "Simple", "--n", 3)
    assert r.exit_code == 2 and "missing the model: give --model PATH" in r.output
    assert "patch [OPTIONS] [MODEL]" in run("patch", "--help").output


def test_a_small_agreement_run_imports_no_plotting_or_compiler():
    """A quick `agreement` check with no --out draws nothing, so it must not pay for importing
    matplotlib.pyplot (~0.3 s) or torch._dynamo (~0.8 s, once pulled in by loading a model)."""
    import subprocess
    import sys
    from pathlib import Path

    import rnnscope

    demo = str(Path(rnnscope.__file__).parent / "data" / "demo_model")
    code = ("import sys\nfrom rnnscope.cli import main\ntry:\n"
            f"    main(['agreement', {demo!r}, '--tasks', 'Simple', '--n', '5'], "
            "standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "print('LOADED', 'matplotlib.pyplot' in sys.modules, 'torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "accuracy" in out.stdout, out.stdout + out.stderr  # it did run
    assert out.stdout.strip().splitlines()[-1] == "LOADED False False", out.stdout + out.stderr
