"""The main job: open the shipped demo model end to end, with nothing to download.

``rnnscope demo`` loads the small word LSTM in ``rnnscope/data/demo_model`` (trained by our
own ``rnnscope train``; the command is in its RECIPE.md), scores the hand-written sentences in
``rnnscope/data/demo_sentences.txt``, and runs the analyses on a corpus the project writes
itself with gold annotation (agreement-grammar sentences with UPOS, Number and a dependency
tree: :mod:`rnnscope.corpus.generated`), so that every report section has data: the model,
its perplexity, an activation store of every component, the units most correlated with the
word's position, and a self-contained HTML report.
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
             corpus_path: str | Path | None = None, report: bool = True, top: int = 5,
             say: Callable[[str], None] = print, device: str = "cpu") -> DemoResult:
    """Run the demo, writing the store and report under ``out_dir`` (replaced if present).

    ``corpus_path``: a text or CoNLL-U file to analyse instead of the generated annotated
    corpus (which is written to ``out_dir/demo_corpus.conllu``); perplexity is measured on
    the hand-written demo sentences, or on ``corpus_path`` when given. ``device``: where the
    model runs (``"auto"``, ``"cuda"``, ...).
    """
    from rnnscope.analysis.correlate import correlate
    from rnnscope.checkpoint import load_model
    from rnnscope.corpus.generated import agreement_conllu
    from rnnscope.corpus.readers import read_corpus
    from rnnscope.device import resolve_device
    from rnnscope.extract import extract
    from rnnscope.training.data import encode_text, read_raw
    from rnnscope.training.train import evaluate_loss

    if not Path(model_path).exists():
        raise RnnscopeError(f"demo model not found at {model_path}: reinstall rnnscope "
                            "or pass --model")
    out = Path(out_dir)
    model, vocab = load_model(model_path)
    dev = resolve_device(device)
    model = model.to(dev)
    say(describe_model(model) + (f" (on {dev})" if dev.type != "cpu" else ""))
    scored = Path(corpus_path) if corpus_path is not None else DEMO_SENTENCES
    if corpus_path is None:
        out.mkdir(parents=True, exist_ok=True)
        corpus_path = out / "demo_corpus.conllu"
        corpus_path.write_text(agreement_conllu(n=20, seed=0), encoding="utf-8")
        what = "generated agreement sentences with gold UPOS, Number and dependency trees"
    else:
        what = Path(corpus_path).name
    corpus = read_corpus(corpus_path)
    say(f"corpus: {len(corpus)} sentences, {corpus.n_words} words ({what})")

    if str(scored).endswith((".txt", ".txt.gz")):  # the text as written
        text = read_raw(scored)
    else:  # CoNLL-U or a treebank: its words, one sentence per line
        text = "".join(" ".join(s.words) + "\n" for s in corpus)
    stream = encode_text(text, vocab, str(scored))
    ppl = math.exp(evaluate_loss(model, stream, batch_size=1))
    say(f"perplexity on {scored.name}: {ppl:.1f}")

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
