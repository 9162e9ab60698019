"""Recipes: the registry fills and parses, helpers do what they say, a tiny recipe really runs."""
from __future__ import annotations

import inspect
import json

import click
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from rnnscope.checkpoint import load_model, save_model
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError
from rnnscope.recipes import prepare
from rnnscope.recipes.analyses import ANALYSES, _fill, pick_units, resolve_files
from rnnscope.recipes.registry import RECIPES, get
from rnnscope.recipes.runner import _call_python, run_recipe
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model


def _all_commands(tiny: bool):
    for r in RECIPES.values():
        yield r.name, r.commands("D", "R", "M", tiny=tiny)
    for a in ANALYSES.values():
        yield a.name, _fill(a, "D", "R", "M", "F", "RES", tiny)


@pytest.mark.parametrize("tiny", [False, True])
def test_every_step_parses(tiny):
    """Every rnnscope step is a valid command line for its command; every py: step binds."""
    for name, commands in _all_commands(tiny):
        assert commands, name
        for argv in commands:
            if argv[0].startswith("py:"):
                module, _, func = argv[0][3:].partition(":")
                fn = getattr(__import__(module, fromlist=[func]), func)
                kwargs = dict(a.split("=", 1) for a in argv[1:])
                inspect.signature(fn).bind(**kwargs)  # raises TypeError on a wrong key
                continue
            assert argv[0] == "rnnscope", (name, argv)
            cmd = main.commands[argv[1]]
            args = [a if not a.startswith("@file:") else "1:0" for a in argv[2:]]
            try:
                cmd.make_context(argv[1], args)  # raises click.UsageError on a bad option
            except click.BadParameter as exc:  # only "that path does not exist (yet)" is fine
                assert "does not exist" in str(exc), (name, argv, exc)


def test_tiny_differs_only_in_settings():
    r = get("ptb-lstm256")
    full, tiny = r.commands("D", "R", "M")[0], r.commands("D", "R", "M", tiny=True)[0]
    assert full[full.index("--hidden") + 1] == "256" and tiny[tiny.index("--hidden") + 1] == "16"
    assert [a for a in full if not a.isdigit()] == [a for a in tiny if not a.isdigit()]


def test_unknown_recipe_and_bad_set_are_one_line_errors():
    with pytest.raises(RnnscopeError, match="known:"):
        get("nope")
    res = CliRunner().invoke(main, ["recipe", "ptb-lstm256", "--dry-run", "--set", "hidden"])
    assert res.exit_code == 2 and "KEY=VALUE" in res.output


def test_cli_list_and_dry_run(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["recipe", "list", "--models", str(tmp_path)])
    assert res.exit_code == 0 and "ptb-lstm256" in res.output and "s004-agreement" in res.output
    res = runner.invoke(main, ["recipe", "ptb-gru256", "--dry-run", "--data", "DATA",
                               "--runs", "RUNS", "--set", "max_tokens=123"])
    assert res.exit_code == 0
    assert "--cell gru" in res.output and "--max-tokens 123" in res.output
    assert "--out RUNS/ptb-gru256" in res.output
    res = runner.invoke(main, ["recipe", "replicate", "--dry-run", "--only", "s002-sentiment"])
    assert res.exit_code == 0 and "sentiment-neuron" in res.output


def test_random_copy_same_shape_new_weights(tmp_path):
    model, vocab = tiny_model("lstm", layers=1, hidden=8, vocab=12), Vocabulary(
        "word", [f"w{i}" for i in range(10)])
    save_model(model, vocab, tmp_path / "m")
    prepare.random_copy(str(tmp_path / "m"), str(tmp_path / "r"), seed="3")
    fresh, v2 = load_model(tmp_path / "r")
    assert fresh.config == model.config and v2.itos == vocab.itos
    assert not torch.equal(fresh.layers[0].weight_hh_l0, model.layers[0].weight_hh_l0)
    again, _ = load_model(tmp_path / "r")
    assert torch.equal(again.layers[0].weight_hh_l0, fresh.layers[0].weight_hh_l0)


def test_sst2_text_reproduces_the_review_preprocessing(tmp_path):
    from rnnscope.analysis.sentiment import preprocess_review

    for split in ("train", "dev", "test"):
        (tmp_path / f"{split}_binary_sent.csv").write_text(
            'label,sentence\n1,"Good, fun."\n0,  Dull film.  \n')
    out = prepare.sst2_text(tmp_path, "train", tmp_path / "o" / "train.txt")
    stream = "\n" + out.read_text()
    assert preprocess_review("Good, fun.") in stream and preprocess_review("  Dull film.  ") in stream


def test_pick_units_and_file_arguments(tmp_path):
    pd.DataFrame({"layer": [1, 1, 1], "unit": [5, 9, 2], "drop": [3.0, 30.0, 12.0]}).to_csv(
        tmp_path / "t.csv", index=False)
    pick_units(str(tmp_path / "t.csv"), str(tmp_path / "u.txt"), column="drop", n="2")
    assert (tmp_path / "u.txt").read_text().strip() == "1:9,1:2"
    assert resolve_files(["--units", f"@file:{tmp_path / 'u.txt'}"]) == ["--units", "1:9,1:2"]
    with pytest.raises(RnnscopeError, match="does not exist"):
        resolve_files([f"@file:{tmp_path / 'missing'}"])
    with pytest.raises(RnnscopeError, match="key=value"):
        _call_python(["py:rnnscope.recipes.analyses:pick_units", "oops"])


def test_tiny_recipe_runs_and_ships_with_its_recipe(shared_data, tmp_path):
    """A real, seconds-long run of a UD recipe: prepare, train, ship models/<name>/recipe.json."""
    lines = []
    run_recipe(get("ud-bg-btb-word-lstm64"), data=str(shared_data), runs=str(tmp_path / "runs"),
               models=str(tmp_path / "models"), tiny=True, in_process=True, log=lines.append)
    assert lines[-2].startswith("shipped")
    shipped = tmp_path / "models" / "ud-bg-btb-word-lstm64"
    record = json.loads((shipped / "recipe.json").read_text())
    assert record["params"]["hidden"] == 8 and "metrics" in record
    assert any("--hidden 8" in c for c in record["commands"])
    model, vocab = load_model(shipped)
    assert model.config.hidden_size == 8 and vocab.kind == "word"
    text = (tmp_path / "runs" / "data" / "bg_btb_dev.word.txt").read_text().splitlines()
    assert len(text) == 1115  # one line per bg_btb dev sentence (MANIFEST count)


def test_recipe_resume_continues_the_training_run(shared_data, tmp_path):
    """`recipe --resume` continues the run where it stopped: a 1-epoch tiny run resumed with
    epochs=2 trains exactly one more epoch (the saved settings stand otherwise)."""
    kw = dict(data=str(shared_data), runs=str(tmp_path / "runs"), models=str(tmp_path / "models"),
              tiny=True, in_process=True, log=lambda m: None)
    recipe = get("ud-bg-btb-word-lstm64")
    run_recipe(recipe, do_ship=False, **kw)
    metrics = tmp_path / "runs" / recipe.name / "metrics.json"
    assert len(json.loads(metrics.read_text())["history"]) == 1
    commands = run_recipe(recipe, do_ship=False, resume=True, overrides={"epochs": 2}, **kw)
    assert commands[-1][-1] == "--resume"
    assert len(json.loads(metrics.read_text())["history"]) == 2


def test_recipe_continue_from_the_shipped_model_keeps_its_history(shared_data, tmp_path):
    """`recipe --continue-from models/NAME` when the run folder is gone: training starts from
    the shipped weights, and the new ship lists the earlier epochs first, then the new ones
    numbered on; the shipped train.log survives."""
    kw = dict(data=str(shared_data), models=str(tmp_path / "models"), tiny=True,
              in_process=True, log=lambda m: None)
    recipe = get("ud-bg-btb-word-lstm64")
    run_recipe(recipe, runs=str(tmp_path / "runs1"), **kw)
    shipped = tmp_path / "models" / recipe.name
    (shipped / "train.log").write_text("epoch 1: the first session\n")
    first = json.loads((shipped / "recipe.json").read_text())
    commands = run_recipe(recipe, runs=str(tmp_path / "runs2"), continue_from=str(shipped),
                          overrides={"epochs": 2}, **kw)
    assert commands[-1][-2:] == ["--init-from", str(shipped)]
    record = json.loads((shipped / "recipe.json").read_text())
    assert [h["epoch"] for h in record["history"]] == [1, 2, 3]
    assert record["history"][0] == first["history"][0] and record["history"][-1]["continued"]
    assert record["commands"][: len(first["commands"])] == first["commands"]
    assert record["metrics"]["epochs_run"] == 3
    assert (shipped / "train.log").read_text() == "epoch 1: the first session\n"
    with pytest.raises(RnnscopeError, match="not both"):
        run_recipe(recipe, runs=str(tmp_path / "runs3"), continue_from=str(shipped), resume=True, **kw)


def test_shipped_reference_lm_matches_its_recipe():
    """models/ref-lstm2x650 is what its recipe says: 2x650, 256-dim embedding, the 31k-word
    lowercased vocabulary, float16 on disk under the cap, and its record names the best epoch."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "models" / "ref-lstm2x650"
    recipe = get("ref-lstm2x650")
    size = sum(f.stat().st_size for f in folder.iterdir())
    assert size <= recipe.max_mb * 2**20
    model, vocab = load_model(folder)
    c = model.config
    assert (c.num_layers, c.hidden_size, c.emb_dim, c.output) == (2, 650, 256, "adaptive")
    assert len(vocab) == c.vocab_size and "likes" in vocab.stoi and "The" not in vocab.stoi
    record = json.loads((folder / "recipe.json").read_text())
    history = record["history"]
    best = min(history, key=lambda h: h["valid_loss"])
    assert record["metrics"]["best_epoch"] == best["epoch"]
    assert record["metrics"]["valid_ppl"] == pytest.approx(best["valid_ppl"])
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))
    assert ANALYSES["s004-ref650-agreement"].steps[0].startswith(
        "rnnscope agreement {models}/ref-lstm2x650")
