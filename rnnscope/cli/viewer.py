"""CLI verbs ``match``, ``figure``, ``report`` and ``serve`` (seeing the units)."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from rnnscope.cli.options import device_option, model_on
from rnnscope.errors import RnnscopeError

if TYPE_CHECKING:  # numpy and pandas load when a command runs, not with --help
    import numpy as np
    import pandas as pd

FIGURE_KINDS = ("text", "probability", "histogram", "lexical", "positions", "accuracy", "memory",
                "dynamics")


def _open_store(path: str):
    from rnnscope.store import ActivationStore
    return ActivationStore.open(path)


def _default_key(store, key: str | None) -> str:
    if key:
        return key
    keys = store.keys()
    return next((k for k in reversed(keys) if k.endswith(".h")), keys[0])


def _span(text: str) -> tuple[int, int, int]:
    try:
        sent, start, end = (int(x) for x in text.split(":"))
    except ValueError:
        raise RnnscopeError(f"--span must be SENTENCE:START:END (end exclusive), got {text!r}") from None
    return sent, start, end


def _store_units(store, key: str | None, text: str, option: str,
                 base: str | None = None) -> list[tuple[str, int]]:
    """``(key, unit)`` pairs named by ``--unit`` / ``--units``: canonical names
    (``layer2.c:17``, their own key, see :mod:`rnnscope.units`) or, as before, bare 0-based
    units of ``--key`` (default: the top layer's h). A name must agree with ``--key`` if both
    are given; ``base``: the key of bare units when there is no ``--key``."""
    from rnnscope.keys import key as make_key, parse_key
    from rnnscope.units import parse_units

    base = key or base or _default_key(store, None)
    layer, comp = parse_key(base)
    layers = [parse_key(k)[0] for k in store.keys()]
    sizes = [max((store.width(k) for k in store.keys() if parse_key(k)[0] == n), default=0)
             for n in range(1, max(layers) + 1)]

    def width(n: int, c: str) -> int:
        k = make_key(n, c)
        if k not in store:
            raise RnnscopeError(f"the store has no {k} (it holds {', '.join(store.keys())})")
        return store.width(k)

    try:
        units = parse_units(text, sizes, None, comp, layer=layer, width=width)
    except RnnscopeError as exc:
        raise RnnscopeError(f"{option} {text}: {exc}") from None
    out = [(make_key(n, c), u) for n, c, u in units]
    other = next((k for k, _ in out if key and k != key), None)
    if other:
        raise RnnscopeError(f"{option} {text} names {other}, but --key is {key}: give the key "
                            f"once (e.g. {option} {other}:{out[0][1]} alone)")
    return out


@click.command("match", short_help="LSTMVis-style span matching on a store.")
@click.argument("store_path", metavar="STORE")
@click.option("--key", default=None, help="Component key, e.g. layer2.h [default: top layer h].")
@click.option("--span", default=None, help="Selection SENTENCE:START:END (positions, end exclusive).")
@click.option("--phrase", default=None, help="Or: search this phrase and select its occurrence.")
@click.option("--occurrence", type=int, default=0, show_default=True, help="Which hit of --phrase (0-based).")
@click.option("--threshold", type=float, default=0.3, show_default=True,
              help="A unit is on where its state is above this (see --scale).")
@click.option("--scale", type=click.Choice(["auto", "raw", "tanh"]), default="auto", show_default=True,
              help="Threshold the raw state (LSTMVis) or tanh(state); auto: raw for h, tanh otherwise.")
@click.option("--off-before", is_flag=True, help="Selected units must be off just before the span.")
@click.option("--off-after", is_flag=True, help="Selected units must be off just after the span.")
@click.option("--top", type=int, default=10, show_default=True, help="Matching spans listed.")
@click.option("--slack", type=int, default=1, show_default=True, help="Candidate lengths: selection length ± slack.")
@click.option("--idiom", "idioms", multiple=True, help="Idiom check: a phrase (repeat for several).")
@click.option("--words", "word_sets", multiple=True, help="Word-set PCA: LABEL=w1,w2,... (repeat per group).")
@click.option("--figure", "figure_path", default=None, help="Write the match grid / PCA scatter (.png/.svg).")
@click.option("--csv", "csv_path", default=None, help="Write the result table as CSV.")
def match_cmd(store_path, key, span, phrase, occurrence, threshold, scale, off_before, off_after,
              top, slack, idioms, word_sets, figure_path, csv_path):
    """LSTMVis-style matching (Strobelt et al. 2016): spans whose on-units match a selected span.

    With --idiom: which units fire for one phrase only. With --words: PCA of the states of the
    chosen word groups.
    """
    from rnnscope.analysis.idioms import idiom_check
    from rnnscope.analysis.match import check_threshold, default_scale, joiner_for, match_store
    from rnnscope.analysis.word_sets import word_set_pca
    from rnnscope.figures import save_figure
    store = _open_store(store_path)
    key = _default_key(store, key)
    scale = default_scale(key) if scale == "auto" else scale
    check_threshold(threshold, scale)
    joiner = joiner_for(store.meta.get("vocab_kind"))
    fig = None
    if idioms:
        result = idiom_check(store[key], store.tokens, list(idioms), threshold=threshold,
                             joiner=joiner, scale=scale)
        click.echo(result.summary.to_string(index=False))
        click.echo()
        click.echo(result.table.to_string(index=False) if len(result.table) else "no unit is on across any phrase")
        table = result.table
    elif word_sets:
        groups = {}
        for spec in word_sets:
            label, _, words = spec.partition("=")
            if not words:
                raise RnnscopeError(f"--words must be LABEL=w1,w2,..., got {spec!r}")
            groups[label] = [w for w in words.split(",") if w]
        result = word_set_pca(store[key], store.tokens, groups)
        sep = "n/a" if result.separation is None else f"{result.separation:.3f}"
        click.echo(f"{len(result.table)} occurrences; explained variance "
                   f"{', '.join(f'{v:.1%}' for v in result.explained_variance_ratio)}; silhouette {sep}")
        table = result.table
        fig = result.plot() if figure_path else None
    else:
        if (span is None) == (phrase is None):
            raise RnnscopeError("give exactly one of --span SENTENCE:START:END or --phrase TEXT")
        sel = dict(phrase=phrase, occurrence=occurrence) if phrase is not None else \
            dict(zip(("sentence", "start", "end"), _span(span)))
        result = match_store(store, key, threshold=threshold, off_before=off_before,
                             off_after=off_after, top=top, length_slack=slack, progress=True,
                             scale=scale, **sel)
        s = result.selection
        rule = f"{key} > {threshold:g}" if scale == "raw" else f"tanh({key}) > {threshold:g}"
        click.echo(f"selection: {s.text!r} (sentence {s.sentence}, position {s.start}); "
                   f"{len(s.units)} units on where {rule}: {s.units.tolist()}")
        table = result.table
        if len(table):
            show = table[["rank", "sentence", "start", "overlap", "extra", "activation", "left",
                          "text", "right"]]
            click.echo(show.to_string(index=False))
        else:
            click.echo("no matching span")
        fig = result.plot() if figure_path and len(s.units) else None
    if csv_path:
        table.to_csv(csv_path, index=False)
        click.echo(f"table written to {csv_path}")
    if figure_path:
        if fig is None:
            raise RnnscopeError("nothing to draw for this result (no selected units)")
        click.echo(f"figure written to {save_figure(fig, figure_path)}")


def _sentence_rows(store, sentence: int) -> tuple[int, int]:
    import numpy as np

    sids = store.tokens["sentence"].to_numpy()
    rows = np.flatnonzero(sids == sentence)
    if len(rows) == 0:
        raise RnnscopeError(f"sentence {sentence} is not in the store (sentences {sids[0]}..{sids[-1]})")
    return int(rows[0]), int(rows[-1]) + 1


def _read_table(path: str | None, kind: str) -> pd.DataFrame:
    import pandas as pd

    if not path:
        raise RnnscopeError(f"figure {kind} needs --table FILE (.csv or .parquet)")
    p = Path(path)
    if not p.exists():
        raise RnnscopeError(f"table not found: {p}")
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)


@click.command("figure", short_help="Draw one figure and write it as PNG or SVG.")
@click.argument("kind", type=click.Choice(FIGURE_KINDS))
@click.option("--out", "out_path", required=True, help="Output file (.png or .svg).")
@click.option("--store", "store_path", default=None, help="Activation store (all kinds but the table ones).")
@click.option("--key", default=None, help="Component key [default: top layer h].")
@click.option("--unit", default=None, help="Unit for text/histogram/lexical, e.g. layer2.c:17 "
              "(the key and the 0-based unit), or 17 with --key.")
@click.option("--units", default=None, help="Units for positions, e.g. layer2.c:3,layer2.c:7 "
              "or layer2.c:0-9 (keys may differ), or 3,7,11 with --key.")
@click.option("--sentence", type=int, default=0, show_default=True, help="Sentence for text/probability/positions.")
@click.option("--tag-column", default=None, help="Tags under the text / class column [default: upos].")
@click.option("--highlight", default=None, help="Tag to highlight / class of interest.")
@click.option("--probs", default=None, help="probability: .npy (or one-number-per-line text) of P(class), per store row or per sentence token.")
@click.option("--model", "model_path", default=None, help="lexical: the model (for its embeddings and vocabulary).")
@click.option("--table", "table_path", default=None, help="accuracy/memory/dynamics: table file (.csv/.parquet).")
@click.option("--title", default=None, help="Figure title [default: chosen per kind].")
def figure_cmd(kind, out_path, store_path, key, unit, units, sentence, tag_column, highlight, probs,
               model_path, table_path, title):
    """Draw one figure and write it as PNG or SVG.

    \b
    text         text of a sentence coloured by tanh(unit), tags underneath
    probability  the same coloured by a classifier's probability (--probs)
    histogram    a unit's activation for --highlight tokens vs the rest (--tag-column)
    lexical      embedding PCA, words sized by the unit (Tang et al.; needs --model)
    positions    units along a sentence
    accuracy     bars from a table with columns component, layer, accuracy
    memory       curves from a table with columns delay, sigma1, ratio, model|state
    dynamics     curves from a table with columns position, condition, mean, std
    """
    import numpy as np

    from rnnscope import figures
    if kind in ("accuracy", "memory", "dynamics"):
        t = _read_table(table_path, kind)
        fn = {"accuracy": figures.component_accuracy, "memory": figures.memory_curves,
              "dynamics": figures.dynamics_curves}[kind]
        click.echo(f"figure written to {figures.save_figure(fn(t, title=title), out_path)}")
        return
    if not store_path:
        raise RnnscopeError(f"figure {kind} needs --store STORE")
    store = _open_store(store_path)
    key_given = key
    if unit is not None:
        named = _store_units(store, key, unit, "--unit")
        if len(named) != 1:
            raise RnnscopeError(f"--unit {unit} names {len(named)} units; give one "
                                "(--units takes several, for figure positions)")
        (key, unit), = named
    key = _default_key(store, key)
    tokens = store.tokens
    tag_column = tag_column or ("upos" if "upos" in tokens.columns else None)
    if tag_column and tag_column not in tokens.columns:
        raise RnnscopeError(f"token table has no column {tag_column!r}")
    if kind in ("text", "histogram", "lexical") and unit is None:
        raise RnnscopeError(f"figure {kind} needs --unit")
    width = store.width(key)
    if unit is not None and not 0 <= unit < width:
        raise RnnscopeError(f"--unit {unit} out of range 0..{width - 1}")
    if kind == "histogram":
        if not tag_column or highlight is None:
            raise RnnscopeError("figure histogram needs --highlight CLASS (and a tag column)")
        values = np.concatenate([b[:, unit] for _, b in store.iter_chunks(key)])
        fig = figures.match_histogram(values, (tokens[tag_column] == highlight).to_numpy(),
                                      labels=(highlight, f"not {highlight}"),
                                      title=title or f"{key}:{unit}")
    elif kind == "lexical":
        fig = _lexical(store, key, unit, model_path, title)
    else:
        a, b = _sentence_rows(store, sentence)
        toks = tokens["token"].iloc[a:b].tolist()
        tags = tokens[tag_column].iloc[a:b].tolist() if tag_column else None
        if kind == "text":
            fig = figures.text_activation(toks, store.get(key, slice(a, b))[:, unit], tags=tags,
                                          highlight=highlight, title=title or f"{key}:{unit}")
        elif kind == "probability":
            p = _read_probs(probs, len(tokens), a, b)
            fig = figures.text_probability(toks, p, tags=tags, highlight=highlight, title=title)
        else:  # positions
            chosen = _store_units(store, key_given, units, "--units", base=key) if units else \
                [(key, unit if unit is not None else 0)]
            values = np.stack([store.get(k, slice(a, b))[:, u] for k, u in chosen], axis=1)
            keys = list(dict.fromkeys(k for k, _ in chosen))
            fig = figures.activation_over_positions(toks, values,
                                                    labels=[f"{k}:{u}" for k, u in chosen],
                                                    title=title or f"{', '.join(keys)}, "
                                                    f"sentence {sentence}")
    click.echo(f"figure written to {figures.save_figure(fig, out_path)}")


def _read_probs(path: str | None, n_rows: int, a: int, b: int) -> np.ndarray:
    import numpy as np

    if not path:
        raise RnnscopeError("figure probability needs --probs FILE")
    p = Path(path)
    if not p.exists():
        raise RnnscopeError(f"probabilities not found: {p}")
    try:
        probs = np.load(p) if p.suffix == ".npy" else np.loadtxt(p, ndmin=1)
    except ValueError as exc:
        raise RnnscopeError(f"{p}: cannot read probabilities ({exc})") from None
    probs = np.asarray(probs, dtype=float).ravel()
    if len(probs) == n_rows:
        return probs[a:b]
    if len(probs) == b - a:
        return probs
    raise RnnscopeError(f"{p}: {len(probs)} probabilities; need one per store row ({n_rows}) "
                        f"or per token of the sentence ({b - a})")


def _lexical(store, key: str, unit: int, model_path: str | None, title: str | None):
    import numpy as np

    from rnnscope import figures
    from rnnscope.checkpoint import load_model
    from rnnscope.figures.lexical import word_statistics
    if not model_path:
        raise RnnscopeError("figure lexical needs --model (for the embedding matrix)")
    model, vocab = load_model(model_path)
    if vocab.kind != "word":
        raise RnnscopeError("the lexical-space picture needs a word-level model")
    values = np.concatenate([b[:, unit] for _, b in store.iter_chunks(key)])
    freq, mean = word_statistics(store.tokens["token"], values, vocab.itos)
    emb = model.encoder.weight.detach().cpu().numpy()
    return figures.lexical_space(emb, vocab.itos, freq, mean, title=title or f"{key}:{unit}")


@click.command("report", short_help="One self-contained HTML report of a model.")
@click.option("--model", "model_path", required=True, help="Model folder (or foreign checkpoint).")
@click.option("--vocab", default=None, help="Vocabulary for a foreign checkpoint.")
@click.option("--corpus", "corpus_path", required=True, help="Corpus: .conllu[.gz], WSJ .zip or text.")
@click.option("--out", "out_path", default="report.html", show_default=True,
              help="HTML file to write (figures embedded).")
@click.option("--key", default=None, help="Component the unit sections analyse [default: top layer h].")
@click.option("--units", "n_units", type=int, default=6, show_default=True, help="Neuron cards for this many units.")
@click.option("--max-sentences", type=int, default=2000, show_default=True, help="Use at most this many sentences.")
@device_option
def report_cmd(model_path, vocab, corpus_path, out_path, key, n_units, max_sentences, device):
    """One self-contained HTML report (figures embedded) of every analysis that applies."""
    from rnnscope.checkpoint import load_model
    from rnnscope.corpus.readers import read_corpus
    from rnnscope.corpus.types import Corpus
    from rnnscope.report import build_report
    if max_sentences < 1:
        raise RnnscopeError(f"--max-sentences must be at least 1, got {max_sentences}")
    model, voc = load_model(model_path, vocab=vocab)
    model = model_on(model, device)
    corpus = read_corpus(corpus_path)
    corpus = Corpus(corpus.sentences[:max_sentences], name=corpus.name)
    path = build_report(model, voc, corpus, out_path, key=key, n_units=n_units)
    click.echo(f"report written to {path}")


@click.command("serve", short_help="Explore a store in the browser (LSTMVis-style).")
@click.argument("store_path", metavar="STORE")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (keep it local).")
@click.option("--port", type=int, default=5000, show_default=True, help="TCP port to listen on.")
@click.option("--key", default=None, help="Component shown first [default: top layer h].")
@click.option("--threads", type=int, default=4, show_default=True,
              help="Requests served at once (more wait in a queue).")
@click.option("--idle-timeout", type=int, default=60, show_default=True,
              help="Seconds an idle connection is kept open.")
def serve_cmd(store_path, host, port, key, threads, idle_timeout):
    """Explore a store in the browser (LSTMVis-style): parallel coordinates with a draggable
    threshold and a brushed span, matches as aligned heatmap rows with annotation tracks,
    neuron cards, and a permalink of the view in the URL. See docs/viewer.md.

    Served by waitress (a production WSGI server): a bounded number of worker threads and
    connections, idle connections closed after --idle-timeout seconds.
    """
    from waitress import serve

    from rnnscope.viewer import create_app
    if threads < 1 or idle_timeout < 1:
        raise RnnscopeError("--threads and --idle-timeout must be at least 1")
    app = create_app(store_path, default_key=key)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: serving on {host}: anyone who can reach it can read this store", err=True)
    click.echo(f"rnnscope viewer on http://{host}:{port}/  (Ctrl-C to stop)")
    serve(app, host=host, port=port, threads=threads, channel_timeout=idle_timeout,
          connection_limit=max(100, 4 * threads), ident="rnnscope", _quiet=True)


COMMANDS = [match_cmd, figure_cmd, report_cmd, serve_cmd]
