"""``rnnscope recipe NAME | list | replicate``: build the reference models, rerun the analyses."""
from __future__ import annotations

from pathlib import Path

import click

from rnnscope.errors import RnnscopeError


def _overrides(items: tuple[str, ...]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RnnscopeError(f"--set expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _list(models: str) -> None:
    from rnnscope.recipes.analyses import ANALYSES
    from rnnscope.recipes.registry import RECIPES

    click.echo("models (rnnscope recipe NAME):")
    for r in RECIPES.values():
        shipped = "shipped" if (Path(models) / r.name / "recipe.json").exists() else "-"
        click.echo(f"  {r.name:28s} {shipped:8s} {r.description}")
    click.echo("analyses (rnnscope recipe replicate [--only NAME]):")
    for a in ANALYSES.values():
        click.echo(f"  {a.name:28s} {'':8s} {a.description}")


@click.command("recipe", short_help="Build a reference model, list recipes, or replicate.")
@click.argument("name")
@click.option("--data", default="../shared/data", show_default=True, help="Shared corpora folder.")
@click.option("--runs", default="../runs", show_default=True,
              help="Where runs and derived texts go (outside the repository).")
@click.option("--models", default="models", show_default=True, help="Where shipped models go.")
@click.option("--figures", default="docs/figures", show_default=True,
              help="replicate: where figures go.")
@click.option("--results", default="../runs/results", show_default=True,
              help="replicate: where result tables (CSV) go.")
@click.option("--only", multiple=True, help="replicate: run only these analyses (repeat).")
@click.option("--tiny", is_flag=True, help="Seconds-long smoke settings (never for shipped models).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a recipe setting.")
@click.option("--dry-run", is_flag=True, help="Print the commands, run nothing.")
@click.option("--no-ship", is_flag=True, help="Do not copy the model into --models.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted recipe: its training step resumes from the run's "
                   "last checkpoint (preparation steps rerun; they are deterministic).")
@click.option("--continue-from", default=None, metavar="MODEL",
              help="Train on from this model's weights (e.g. the shipped models/NAME) when the run "
                   "folder is gone; the optimizer starts afresh and the shipped recipe.json keeps "
                   "the earlier epochs' history.")
@click.option("--ship-only", is_flag=True,
              help="Only copy an already finished run ({runs}/NAME/model) into --models.")
def recipe_cmd(name, data, runs, models, figures, results, only, tiny, sets, dry_run, no_ship,
               resume, continue_from, ship_only):
    """Run the recipe NAME (train a reference model and ship it to models/NAME/),
    `list` the recipes, or `replicate` every analysis of docs/replication.md."""
    from rnnscope.recipes import registry
    from rnnscope.recipes.runner import run_recipe

    if name == "list":
        _list(models)
        return
    if name == "replicate":
        from rnnscope.recipes.analyses import replicate

        failed = replicate(data=data, runs=runs, models=models, figures=figures, results=results,
                           only=only, dry_run=dry_run, tiny=tiny, log=click.echo)
        if failed:
            raise RnnscopeError(f"{len(failed)} analysis step(s) failed: {', '.join(failed)}")
        return
    run_recipe(registry.get(name), data=data, runs=runs, models=models, tiny=tiny,
               overrides=_overrides(sets), dry_run=dry_run, do_ship=not no_ship,
               ship_only=ship_only, resume=resume, continue_from=continue_from, log=click.echo)


COMMANDS = [recipe_cmd]
