"""Run a recipe's steps and ship its model into ``models/<name>/`` with the recipe beside it."""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rnnscope.errors import RnnscopeError
from rnnscope.recipes.registry import Recipe

_CLI = "import sys; from rnnscope.cli import main; sys.argv[0] = 'rnnscope'; main()"


def _call_python(argv: list[str]) -> None:
    """``py:module:function key=value ...`` -> ``function(key=value, ...)`` (string values)."""
    target = argv[0][3:]
    module_name, _, func_name = target.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise RnnscopeError(f"recipe step {argv[0]}: cannot import ({exc})") from None
    kwargs = {}
    for item in argv[1:]:
        key, sep, value = item.partition("=")
        if not sep:
            raise RnnscopeError(f"recipe step {argv[0]}: argument {item!r} is not key=value")
        kwargs[key] = value
    func(**kwargs)


def run_step(argv: list[str], log: Callable[[str], None] = print, in_process: bool = False) -> None:
    """Run one filled-in step; RnnscopeError when it fails.

    ``rnnscope`` steps run in a subprocess (a crash or a leak of one step cannot touch the
    next); ``in_process=True`` calls the click command directly instead (tests, smoke runs).
    """
    log("$ " + " ".join(argv))
    if argv[0].startswith("py:"):
        _call_python(argv)
        return
    if argv[0] != "rnnscope":
        raise RnnscopeError(f"recipe step must start with 'rnnscope' or 'py:', got {argv[0]!r}")
    if in_process:
        from rnnscope.cli import main

        try:
            main.main(argv[1:], prog_name="rnnscope", standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise RnnscopeError(f"step failed (exit {exc.code}): {' '.join(argv)}") from None
        return
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    done = subprocess.run([sys.executable, "-c", _CLI, *argv[1:]], env=env)
    if done.returncode != 0:
        raise RnnscopeError(f"step failed (exit {done.returncode}): {' '.join(argv)}")


def ship(recipe: Recipe, commands: list[list[str]], run_dir: Path, models: Path,
         params: dict, continued: bool = False) -> Path:
    """Copy ``run_dir/model`` to ``models/<name>/`` and write ``recipe.json`` (+ metrics).

    ``continued``: the run started from the shipped model (``--continue-from``), so the shipped
    record's commands and epoch history come first, the new epochs numbered on from them. A
    ``train.log`` in the destination is kept either way.
    """
    src = run_dir / "model"
    if not src.is_dir():
        raise RnnscopeError(f"recipe {recipe.name}: no model folder in {run_dir}")
    dst = models / recipe.name
    earlier: dict = {}
    log_text = None
    if dst.exists():
        if continued and (dst / "recipe.json").is_file():
            earlier = json.loads((dst / "recipe.json").read_text())
        if (dst / "train.log").is_file():
            log_text = (dst / "train.log").read_text()
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    if recipe.ship_dtype != "float32":
        _cast_weights(dst / "model.safetensors", recipe.ship_dtype)
    record = {"name": recipe.name, "description": recipe.description, "budget": recipe.budget,
              "seeds": list(recipe.seeds), "params": params, "steps": list(recipe.steps),
              "commands": [" ".join(c) for c in commands],
              "rerun": f"rnnscope recipe {recipe.name}", "weights_dtype": recipe.ship_dtype}
    metrics = run_dir / "metrics.json"
    if metrics.exists():
        m = json.loads(metrics.read_text())
        record["metrics"] = {k: v for k, v in m.items() if k != "history"}
        record["history"] = m.get("history")
    else:  # train-classifier keeps its scores in the checkpoint's config.json
        config = json.loads((src / "config.json").read_text())
        record["metrics"] = {k: v for k, v in config.items() if k.endswith(("_accuracy", "_seconds"))}
    if earlier:
        before = earlier.get("history") or []
        offset = max((h.get("epoch", 0) for h in before), default=0)
        record["commands"] = earlier.get("commands", []) + record["commands"]
        record["history"] = before + [dict(h, epoch=h["epoch"] + offset, continued=True)
                                      for h in record.get("history") or []]
        record["continued_from"] = {"metrics": earlier.get("metrics"), "params": earlier.get("params")}
        if "metrics" in record and "best_epoch" in record["metrics"]:
            record["metrics"]["best_epoch"] += offset
            record["metrics"]["epochs_run"] = record["metrics"].get("epochs_run", 0) + offset
    (dst / "recipe.json").write_text(json.dumps(record, indent=1))
    if log_text is not None:
        (dst / "train.log").write_text(log_text)
    size = sum(f.stat().st_size for f in dst.rglob("*") if f.is_file())
    if size > recipe.max_mb * 2**20:
        raise RnnscopeError(f"{dst} is {size / 2**20:.1f} MB, over the {recipe.max_mb} MB limit "
                            "for models/")
    return dst


def _cast_weights(path: Path, dtype: str) -> None:
    """Rewrite a safetensors file with its floating tensors in ``dtype`` (loading casts back)."""
    import torch
    from safetensors.torch import load_file, save_file

    target = getattr(torch, dtype)
    tensors = {k: (v.to(target) if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)


def run_recipe(recipe: Recipe, data: str, runs: str, models: str, tiny: bool = False,
               overrides: dict | None = None, dry_run: bool = False, do_ship: bool = True,
               ship_only: bool = False, in_process: bool = False, log: Callable[[str], None] = print,
               resume: bool = False, continue_from: str | None = None) -> list[list[str]]:
    """Run every step of ``recipe`` (or only print them with ``dry_run``); returns the argv lists.

    ``resume``: ``rnnscope train`` steps get ``--resume`` (continue from the run's checkpoint;
    settings given on the step's command line, the same as before, stand).
    ``continue_from``: a model folder (usually the shipped one) the training step starts from
    (``--init-from``), for when the run folder is gone; the shipped record keeps its history.
    """
    if resume and continue_from:
        raise RnnscopeError("give either --resume (the run folder's checkpoint) or "
                            "--continue-from (a model), not both")
    commands = recipe.commands(data, runs, models, tiny=tiny, overrides=overrides)
    extra = ["--resume"] if resume else ["--init-from", continue_from] if continue_from else []
    if extra:
        commands = [c + extra if c[:2] == ["rnnscope", "train"] and extra[0] not in c
                    else c for c in commands]
    if dry_run:
        for argv in commands:
            log(" ".join(argv))
        return commands
    start = time.perf_counter()
    for argv in ([] if ship_only else commands):
        run_step(argv, log, in_process=in_process)
    if recipe.ship and do_ship:
        params = {**recipe.params, **(recipe.tiny if tiny else {}), **(overrides or {})}
        dst = ship(recipe, commands, Path(runs) / recipe.name, Path(models), params,
                   continued=bool(continue_from))
        log(f"shipped {dst}")
    log(f"recipe {recipe.name} done in {time.perf_counter() - start:.0f} s")
    return commands
