"""``rnnscope demo``: the main job on the shipped model and sentences (no download)."""
from __future__ import annotations

import click

from rnnscope.cli.options import device_option
from rnnscope.demo import DEMO_MODEL, run_demo


@click.command(short_help="Run the shipped demo model end to end (no download).")
@click.option("--out", default="rnnscope-demo", show_default=True, type=click.Path(),
              help="Folder for the activation store and report.html (replaced if present).")
@click.option("--model", "model_path", default=str(DEMO_MODEL), show_default=False,
              type=click.Path(), help="A checkpoint to use instead of the shipped demo model.")
@click.option("--corpus", "corpus_path", default=None, type=click.Path(),
              help="A text (one sentence per line) or CoNLL-U file to analyse instead of the "
                   "generated, annotated demo corpus.")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@click.option("--top", default=5, show_default=True, help="How many units to list.")
@device_option
def demo(out: str, model_path: str, corpus_path: str, no_report: bool, top: int,
         device: str) -> None:
    """Open the shipped demo LSTM: perplexity, activation store, position units, report."""
    run_demo(out, model_path=model_path, corpus_path=corpus_path, report=not no_report,
             top=top, say=click.echo, device=device)


COMMANDS = [demo]
