"""The main job: open the shipped demo model end to end, with nothing to download.

``rnnscope demo`` loads the small word LSTM in ``rnnscope/data/demo_model`` (trained by our
own ``rnnscope train``; the command is in its RECIPE.md), reads the hand-written sentences in
``rnnscope/data/demo_sentences.txt``, and shows what the toolkit does: the model, its
perplexity on the text, an activation store of every component, the units most correlated
with the word's position in the sentence, and a self-contained HTML report.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rnnscope.errors import RnnscopeError

if TYPE_CHECKING:  # the CLI imports this module at start-up: keep the heavy imports in run_demo
    import pandas as pd

DATA = Path(__file__).resolve().parent / "data"
DEMO_MODEL = DATA / "demo_model"
DEMO_SENTENCES = DATA / "demo_sentences.txt"


@dataclass
class DemoResult:
    """What the demo computed: perplexity, the position-correlated units, and file paths."""

    perplexity: float
    top_position_units: pd.DataFrame
    store_path: Path
    report_path: Path | None


def describe_model(model) -> str:
    """One line: cell, layers x units, embedding size, vocabulary, parameter count."""
    c = model.config
    params = sum(p.numel() for p in model.parameters())
    return (f"{c.cell.upper()} language model: {c.num_layers} layer(s) x {c.hidden_size} units, "
            f"{c.emb_dim}-dim embeddings, vocabulary {c.vocab_size:,}, {params:,} parameters")


def run_demo(out_dir: str | Path = "rnnscope-demo", model_path: str | Path = DEMO_MODEL,
             corpus_path: str | Path = DEMO_SENTENCES, report: bool = True, top: int = 5,
             say: Callable[[str], None] = print) -> DemoResult:
    """Run the demo, writing the store and report under ``out_dir`` (replaced if present)."""
    from rnnscope.analysis.correlate import correlate
    from rnnscope.checkpoint import load_model
    from rnnscope.corpus.readers import read_text
    from rnnscope.extract import extract
    from rnnscope.training.data import encode_text
    from rnnscope.training.train import evaluate_loss

    if not Path(model_path).exists():
        raise RnnscopeError(f"demo model not found at {model_path}: reinstall rnnscope "
                            "or pass --model")
    out = Path(out_dir)
    model, vocab = load_model(model_path)
    corpus = read_text(corpus_path)
    say(describe_model(model))
    say(f"text: {len(corpus)} sentences, {corpus.n_words} words ({Path(corpus_path).name})")

    stream = encode_text(Path(corpus_path).read_text(encoding="utf-8"), vocab, str(corpus_path))
    ppl = math.exp(evaluate_loss(model, stream, batch_size=1))
    say(f"perplexity on the text: {ppl:.1f}")

    store = extract(model, vocab, corpus, out / "store", progress=False, overwrite=True)
    say(f"activation store: {len(store.tokens)} tokens x {len(store.keys())} components "
        f"({', '.join(store.keys())}) -> {out / 'store'}")

    result = correlate(store, features=["position"])
    best = result.top("position", n=top)[["key", "unit", "pearson", "spearman"]]
    say(f"\nunits most correlated with the word's position in the sentence (top {top}):")
    say(best.to_string(index=False, float_format=lambda v: f"{v:+.3f}"))

    report_path = None
    if report:
        from rnnscope.report.build import report_from_store

        report_path = report_from_store(store, model, vocab, corpus, out / "report.html",
                                        progress=False, title="rnnscope demo")
        say(f"\nreport: {report_path.resolve()}")
    return DemoResult(ppl, best, out / "store", report_path)
