"""CLI verbs of "what do the units encode": ``probe``, ``concepts``, ``correlate``,
``sentiment-neuron``, ``train-classifier``, ``compare-models``, ``concept-causality``.

Each prints its table; ``--csv`` writes the tidy table and ``--plot`` a figure (PNG or SVG by
extension).
"""
from __future__ import annotations

import click

from rnnscope.cells import cell_names
from rnnscope.cli.options import device_option, local_device
from rnnscope.errors import RnnscopeError
from rnnscope.distributed.cli import choose
from rnnscope.distributed.cluster import cluster_options


def _list(value: str | None, kind: type = str, what: str = "value") -> list | None:
    """``"h,c"`` -> ``["h", "c"]``; ``"-1,0,1"`` -> ``[-1, 0, 1]`` (``kind=int``)."""
    if not value:
        return None
    try:
        return [kind(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise RnnscopeError(f"bad {what} list {value!r}") from None


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, n))


def _emit(table, csv_path: str | None, fig_fn=None, plot_path: str | None = None,
          columns: list[str] | None = None) -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", 500, "display.width", 200,
                           "display.float_format", lambda v: f"{v:.3f}"):
        click.echo((table[columns] if columns else table).to_string(index=False))
    if csv_path:
        table.to_csv(csv_path, index=False)
        click.echo(f"wrote {csv_path}")
    if plot_path and fig_fn is not None:
        from rnnscope.figures import save_figure

        save_figure(fig_fn(), plot_path)
        click.echo(f"wrote {plot_path}")


def _notes(notes) -> None:
    """Print a result's notes: ``note: ...``, or ``warning: ...`` for those that are warnings."""
    for note in notes:
        click.echo(note if note.startswith("warning: ") else f"note: {note}")


def _open(path: str):
    """Open a store and say how much of its text the model read as <unk> (from its meta)."""
    from rnnscope.corpus.unknown import UnknownReport
    from rnnscope.store import ActivationStore

    store = ActivationStore.open(path)
    if isinstance(store.meta.get("unknown"), dict):
        try:
            report = UnknownReport.from_dict(store.meta["unknown"])
        except (KeyError, TypeError, ValueError):
            report = None
        if report is not None:
            click.echo(f"{path}: " + report.line("units the model read"), err=True)
    return store


_common = [
    click.option("--csv", "csv_path", default=None, help="Write the table to this CSV file."),
    click.option("--plot", "plot_path", default=None, help="Write the figure (.png or .svg)."),
    click.option("--threads", type=int, default=1, show_default=True, help="torch/BLAS threads."),
]


def common(fn):
    for opt in reversed(_common):
        fn = opt(fn)
    return fn


@click.command("probe", short_help="Decode a word feature from every component.")
@click.argument("store_path", metavar="STORE")
@click.option("--feature", default="upos", show_default=True,
              help="Token-table column: upos, xpos, deprel, a FEATS key (Case, ...), depth.")
@click.option("--components", default=None, help="e.g. h,c,i,f,o [default: all stored].")
@click.option("--layers", default=None, help="1-based layers, e.g. 1,2 [default: all].")
@click.option("--offsets", default="0", show_default=True,
              help="Decode the feature of the word at w+k, e.g. -2,-1,0,1,2 (context-window decoding).")
@click.option("--read", type=click.Choice(["word_end", "every"]), default="word_end",
              show_default=True, help="Rows: each word's last unit, or every stored unit.")
@click.option("--test-store", default=None,
              help="Score on this store (e.g. the corpus' test split) instead of a 90/10 split.")
@click.option("--test-size", type=float, default=0.1, show_default=True,
              help="Share of the rows held out for testing (without --test-store).")
@click.option("--no-control", is_flag=True, help="Skip the control task.")
@click.option("--min-count", type=int, default=1, show_default=True,
              help="Merge classes with fewer examples into OTHER.")
@click.option("--control-na", type=click.Choice(["keep", "shuffle"]), default="keep",
              show_default=True,
              help="Control task: keep the real N/A words (selectivity = within-feature part "
                   "only) or draw N/A per word type too.")
@click.option("--C", "C", type=float, default=1.0, show_default=True, help="Inverse L2 strength.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed of the split and the control labels.")
@click.option("--drop-nonfinite", is_flag=True,
              help="Leave out rows whose activations hold NaN or inf (default: refuse them).")
@common
@cluster_options
@device_option
def probe_cmd(store_path, feature, components, layers, offsets, read, test_store, test_size,
              no_control, min_count, control_na, C, seed, drop_nonfinite, csv_path, plot_path,
              threads, cluster=None, workers=None, device="auto"):
    """Decode a word feature from every component with a softmax probe, against a control
    task (per-component decoding as in Tang et al., who probe the h, c and gates of LSTM LMs)."""
    from rnnscope.analysis.probe import probe
    from rnnscope.distributed.cluster import wants_cluster

    _threads(threads)
    extra = {}
    if control_na != "keep":
        if no_control:
            raise RnnscopeError("--control-na needs the control task: drop --no-control")
        if wants_cluster(cluster, workers):
            raise RnnscopeError("--control-na shuffle does not run with --cluster/--workers yet")
        extra["control_na"] = control_na
    if drop_nonfinite:
        if wants_cluster(cluster, workers):
            raise RnnscopeError("--drop-nonfinite does not run with --cluster/--workers yet")
        extra["drop_nonfinite"] = True
    if not wants_cluster(cluster, workers):
        extra["device"] = device
    local_device(device, cluster, workers)  # a GPU with --cluster is refused
    probe = choose(probe, "rnnscope.distributed.probe:probe_one_distributed", cluster, workers)
    res = probe(_open(store_path), feature, components=_list(components, what="component"),
                layers=_list(layers, int, "layer"), offsets=_list(offsets, int, "offset") or [0],
                read=read, test_store=_open(test_store) if test_store else None,
                control=not no_control, C=C, test_size=test_size, seed=seed, min_count=min_count,
                **extra)
    several = res.table["offset"].nunique() > 1
    _emit(res.table, csv_path, res.plot_offsets if several else res.plot, plot_path)
    _notes(getattr(res, "notes", []))


@click.command("concepts", short_help="Concept neurons: L1 one-vs-rest classifiers per tag.")
@click.argument("store_path", metavar="STORE")
@click.option("--feature", default="xpos", show_default=True, help="Tag column, e.g. xpos, upos.")
@click.option("--key", default=None, help="Component, e.g. layer1.c [default: top layer's c].")
@click.option("--read", type=click.Choice(["word_end", "every"]), default=None,
              help="Every char/byte (SPACE for separators) or each word's last unit "
                   "[default: every for char/byte stores, word_end for word stores].")
@click.option("--group", is_flag=True, help="Group the tags as Carvalho does (VB*, JJ*, NN/NNS, ...; OTHER).")
@click.option("--min-count", type=int, default=1, show_default=True,
              help="Merge tags with fewer examples into OTHER.")
@click.option("--k", type=int, default=3, show_default=True, help="Retrain on the top 1..k units.")
@click.option("--C", "C", type=float, default=0.05, show_default=True,
              help="Inverse L1 strength (without a dev split).")
@click.option("--test-size", type=float, default=0.1, show_default=True,
              help="Share of the rows held out for testing (without --split).")
@click.option("--rank", type=click.Choice(["standardised", "raw"]), default="standardised",
              show_default=True,
              help="Rank units by L1 weights on standardised units, or on the raw states "
                   "(as Carvalho does).")
@click.option("--split", default=None,
              help="90/10 (train/test, as --test-size 0.1) or Carvalho's 80/10/10 "
                   "(train/dev/test: dev picks each classifier's C from --Cs) "
                   "[default: from --test-size].")
@click.option("--Cs", "cs", default=None,
              help="C values dev chooses from with a dev split [default: 2^-8,...,2^0, "
                   "Radford et al.'s grid].")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the split.")
@click.option("--class", "cls", default=None, help="Class whose weights --plot draws.")
@click.option("--drop-nonfinite", is_flag=True,
              help="Leave out rows whose activations hold NaN or inf (default: refuse them).")
@common
@device_option
def concepts_cmd(store_path, feature, key, read, group, min_count, k, C, test_size, rank, split,
                 cs, seed, cls, drop_nonfinite, csv_path, plot_path, threads, device):
    """Concept neurons: one-vs-rest L1 logistic regression per tag, its top units, and
    classifiers retrained on the top 1..k units (Carvalho's byte-LSTM POS neurons)."""
    from rnnscope.analysis.concepts import concepts
    from rnnscope.analysis.labels import parse_split

    _threads(threads)
    if k < 1:
        raise RnnscopeError(f"--k must be at least 1, got {k}")
    if split is not None:
        parse_split(split)
        if test_size != 0.1:
            raise RnnscopeError("give --split or --test-size, not both")
    Cs = _list(cs, float, "C")
    if Cs is not None and (split is None or parse_split(split)[1] == 0):
        raise RnnscopeError("--Cs needs a split with a dev part, e.g. --split 80/10/10")
    res = concepts(_open(store_path), feature=feature, key=key, read=read, group=group,
                   min_count=min_count, k=k, C=C, test_size=test_size, seed=seed, rank=rank,
                   split=split, Cs=Cs, drop_nonfinite=drop_nonfinite, device=device)
    _notes(res.notes)
    n_tr, n_dev, n_te = res.n_split
    click.echo(f"{res.key}: units ranked by L1 weight on {res.rank} units; split {res.split} "
               f"({n_tr} train" + (f" / {n_dev} dev" if n_dev else "") + f" / {n_te} test rows)")
    if n_dev:
        chosen = res.table[res.table["k"] == "all"]
        click.echo("C chosen on dev (k = all): "
                   + ", ".join(f"{c} {v:g}" for c, v in zip(chosen["class"], chosen["C"])))
    click.echo(f"{res.key}: multiclass (argmax over L2-normalised class scores)")
    click.echo(res.summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    click.echo("")
    wide = res.wide().reset_index()
    if "top 3" in wide.columns:  # canonical unit names, e.g. layer1.c:17
        wide["top 3"] = [", ".join(f"{res.key}:{u.strip()}" for u in str(v).split(",") if u.strip())
                         for v in wide["top 3"]]
    classes = [str(c) for c in res.table["class"].unique()]
    if cls is not None and cls not in classes:
        raise RnnscopeError(f"--class {cls!r} is not a class of {feature!r}; classes: "
                            f"{', '.join(classes[:20])}")
    cls = cls or str(res.table.sort_values("n_class").iloc[-1]["class"])
    _emit(wide, None, lambda: res.plot_weights(cls), plot_path)
    if csv_path:
        res.table.assign(top_units=res.table["top_units"].map(lambda u: " ".join(map(str, u))),
                         top_unit_names=res.table["top_units"].map(
                             lambda u: " ".join(f"{res.key}:{int(x)}" for x in u))) \
            .to_csv(csv_path, index=False)
        click.echo(f"wrote {csv_path}")


@click.command("correlate", short_help="Correlate every unit with position, depth, frequency.")
@click.argument("store_path", metavar="STORE")
@click.option("--features", default="position,length,depth,log_frequency", show_default=True,
              help="Comma-separated token-table columns to correlate with (numeric).")
@click.option("--components", default=None, help="e.g. h,c [default: all stored].")
@click.option("--layers", default=None, help="1-based layers [default: all].")
@click.option("--read", type=click.Choice(["word_end", "every"]), default="word_end",
              show_default=True, help="Rows: each word's last unit, or every stored unit.")
@click.option("--top", type=int, default=5, show_default=True, help="Top units per feature.")
@common
def correlate_cmd(store_path, features, components, layers, read, top, csv_path, plot_path,
                  threads):
    """Pearson/Spearman r of every unit with position, length, depth, log frequency, and the
    per-sentence tree-depth correlation (Tang et al.'s sequential/lexical/compositional features)."""
    from rnnscope.analysis.correlate import correlate

    _threads(threads)
    if top < 1:
        raise RnnscopeError(f"--top must be at least 1, got {top}")
    res = correlate(_open(store_path), features=_list(features, what="feature"),
                    components=_list(components, what="component"),
                    layers=_list(layers, int, "layer"), read=read)
    if not res.depth.empty:
        click.echo("mean activation vs tree depth, per-sentence r averaged over sentences:")
        click.echo(res.depth.to_string(index=False, float_format=lambda v: f"{v:+.3f}"))
        click.echo("")
    if res.skipped:
        click.echo(f"skipped (not in the store or constant): {', '.join(res.skipped)}")
    first = res.table["feature"].iloc[0]
    _emit(res.top(n=top), None, lambda: res.plot(first), plot_path,
          ["feature", "key", "unit", "pearson", "spearman", "n"])
    if csv_path:
        res.table.to_csv(csv_path, index=False)
        click.echo(f"wrote {csv_path}")


@click.command("sentiment-neuron", short_help="The sentiment neuron of a char/byte LM on SST-2.")
@click.option("--model", "model_path", required=True, help="A char/byte language model.")
@click.option("--data", "data_dir", required=True, help="SST-2 folder (train/dev/test*.csv).")
@click.option("--component", default="c", show_default=True,
              help="Component of the final state the classifier reads (c or h).")
@click.option("--layer", type=int, default=None, help="1-based layer [default: top].")
@click.option("--Cs", "cs", default="0.001,0.003,0.01,0.03,0.1,0.3,1", show_default=True,
              help="L1 inverse strengths tried; the best on dev is kept.")
@click.option("--max-reviews", type=int, default=None, help="First N reviews of each split.")
@click.option("--hist", "hist_path", default=None, help="Histogram of the unit by class (.png).")
@common
def sentiment_cmd(model_path, data_dir, component, layer, cs, max_reviews, hist_path, csv_path,
                  plot_path, threads):
    """The sentiment neuron (Radford et al. 2017): L1 logistic regression on a char/byte LM's
    final cell state over SST-2, and the single dominant unit as a classifier."""
    from rnnscope.analysis.sentiment import sentiment_neuron
    from rnnscope.checkpoint import load_model

    _threads(threads)
    model, vocab = load_model(model_path)
    res = sentiment_neuron(model, vocab, data_dir, component=component, layer=layer,
                           Cs=_list(cs, float, "C"), max_reviews=max_reviews)
    click.echo(f"C = {res.C:g} (best dev accuracy), {res.n_nonzero} non-zero weights; "
               f"dominant unit {res.unit}, threshold {res.threshold:.4g} "
               f"({'higher' if res.sign > 0 else 'lower'} = positive)")
    _emit(res.table.pivot(index="classifier", columns="split", values="accuracy").reset_index(),
          csv_path, res.plot_weights, plot_path)
    if hist_path:
        from rnnscope.figures import save_figure

        save_figure(res.plot_histogram("test"), hist_path)
        click.echo(f"wrote {hist_path}")


@click.command("train-classifier", short_help="Train a recurrent sentiment classifier on SST-2.")
@click.option("--data", "data_dir", required=True, help="SST-2 folder (train/dev/test*.csv).")
@click.option("--out", required=True, help="Checkpoint folder to write.")
@click.option("--kind", type=click.Choice(["word", "char", "byte"]), default="word",
              show_default=True, help="Input units: words, characters or bytes.")
@click.option("--cell", type=click.Choice(cell_names()), default="lstm",
              show_default=True, help="Recurrent cell family.")
@click.option("--emb", type=int, default=64, show_default=True, help="Embedding size.")
@click.option("--hidden", type=int, default=64, show_default=True, help="Hidden units per layer.")
@click.option("--layers", type=int, default=1, show_default=True, help="Recurrent layers.")
@click.option("--epochs", type=int, default=4, show_default=True, help="Passes over the training reviews.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Reviews per batch.")
@click.option("--lr", type=float, default=2e-3, show_default=True, help="Adam learning rate.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed of the initialisation and batch order.")
@click.option("--threads", type=int, default=1, show_default=True, help="torch/BLAS threads.")
def train_classifier_cmd(data_dir, out, kind, cell, emb, hidden, layers, epochs, batch_size, lr,
                         seed, threads):
    """Train a recurrent sentiment classifier on SST-2: the task-specific model Tang et al.
    compare with language models."""
    import time

    from rnnscope.analysis.sentiment import read_sst2, sst2_files
    from rnnscope.classifier import accuracy, save_classifier, train_classifier

    _threads(threads)
    files = sst2_files(data_dir)
    data = {split: read_sst2(path) for split, path in files.items()}
    start = time.time()
    clf, vocab, history = train_classifier(data["train"], data["dev"], kind=kind, cell=cell,
                                           emb_dim=emb, hidden_size=hidden, num_layers=layers,
                                           epochs=epochs, batch_size=batch_size, lr=lr, seed=seed)
    seconds = time.time() - start
    test_acc = accuracy(clf, vocab, *data["test"])
    click.echo(history.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    path = save_classifier(clf, vocab, out, extra={
        "trained_on": str(data_dir), "dev_accuracy": float(history["dev_accuracy"].max()),
        "test_accuracy": test_acc, "train_seconds": round(seconds, 1)})
    click.echo(f"test accuracy {test_acc:.4f} (best dev {history['dev_accuracy'].max():.4f}); "
               f"trained in {seconds:.0f} s; wrote {path}")


@click.command("compare-models", short_help="Decode one feature from several models' stores.")
@click.option("--store", "stores", multiple=True, required=True, metavar="NAME=STORE",
              help="A store per model, all extracted from the same corpus (repeat).")
@click.option("--feature", default="upos", show_default=True,
              help="Token-table column to decode, e.g. upos, xpos, deprel.")
@click.option("--components", default="h,c,i,f,o", show_default=True,
              help="Components to probe (those a store lacks are skipped).")
@click.option("--no-control", is_flag=True, help="Skip the control task.")
@click.option("--min-count", type=int, default=1, show_default=True,
              help="Merge classes with fewer examples into OTHER.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed of the split and the control labels.")
@common
def compare_cmd(stores, feature, components, no_control, min_count, seed, csv_path, plot_path,
                threads):
    """Decode a feature from several models on the same sentences: one table (Tang et al.'s
    word vs char vs sentiment model comparison).

    Char/byte models are read at the last character of each word.
    """
    from rnnscope.analysis.compare_models import compare_models

    _threads(threads)
    named = {}
    for item in stores:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise RnnscopeError(f"--store expects NAME=STORE, got {item!r}")
        named[name] = _open(path)
    comps = _list(components, what="component")
    available = {c for s in named.values() for c in s.meta.get("components", [])}
    comps = [c for c in comps if c in available] or None
    res = compare_models(named, feature=feature, components=comps, control=not no_control,
                         min_count=min_count, seed=seed)
    click.echo(res.pivot().to_string(float_format=lambda v: f"{v:.3f}"))
    click.echo("")
    _emit(res.table, csv_path, res.plot, plot_path,
          ["model", "key", "accuracy", "control_accuracy", "selectivity", "majority", "n_test"])


@click.command("concept-causality", short_help="Ablate probe-found units: do they cause their tag?")
@click.argument("store_path", metavar="STORE")
@click.option("--model", "model_path", required=True, help="The model the store was extracted from.")
@click.option("--feature", default="xpos", show_default=True, help="Tag column, e.g. xpos, upos.")
@click.option("--key", default=None, help="Component for concepts [default: top layer's c].")
@click.option("--read", type=click.Choice(["word_end", "every"]), default=None,
              help="Every char/byte or each word's last unit [default: every for char/byte "
                   "stores, word_end for word stores].")
@click.option("--group", is_flag=True, help="Group the tags (VB*, JJ*, NN/NNS, ...; OTHER).")
@click.option("--min-count", type=int, default=1, show_default=True,
              help="Merge tags with fewer examples into OTHER.")
@click.option("--top", type=int, default=1, show_default=True, help="Top units per class to test.")
@click.option("--unit", "units", multiple=True, metavar="UNIT",
              help="Also test this unit against every class, e.g. layer1.c:17 (repeat, or "
                   "comma-separate; also 1:17 or the global number, of --key's component).")
@click.option("--no-concepts", is_flag=True, help="Only test the --unit units.")
@click.option("--n-random", type=int, default=19, show_default=True,
              help="Random units of the same layer.component for the permutation baseline.")
@click.option("--value", default="mean", show_default=True, help="Ablate to 'mean' or 'zero'.")
@click.option("--position", type=click.Choice(["input", "target"]), default="input",
              show_default=True, help="Score the loss while reading / when predicting the class.")
@click.option("--max-sentences", type=int, default=200, show_default=True,
              help="Score the loss on at most this many sentences (a random sample).")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="Permutation p-value above which a probe-found unit is flagged as not causal.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed of the sentence sample and the random units.")
@common
def causality_cmd(store_path, model_path, feature, key, read, group, min_count, top, units,
                  no_concepts, n_random, value, position, max_sentences, alpha, seed, csv_path,
                  plot_path, threads):
    """From correlation to cause: ablate concept units, compare the loss change with random
    units."""
    from rnnscope.analysis.causal_concepts import UnitTest, concept_causality
    from rnnscope.analysis.concepts import concepts
    from rnnscope.checkpoint import load_model

    _threads(threads)
    if top < 1:
        raise RnnscopeError(f"--top must be at least 1, got {top}")
    store = _open(store_path)
    model, vocab = load_model(model_path)
    from rnnscope.keys import key as make_key, parse_key
    from rnnscope.units import parse_units

    default = parse_key(key)[1] if key else ("c" if "c" in model.components else "h")
    tests = []
    for u in units:
        try:
            named = parse_units(u, model.config.sizes, model.components, default,
                                width=model.config.width)
        except RnnscopeError as exc:
            raise RnnscopeError(f"--unit: {exc}") from None
        tests += [UnitTest(make_key(n, c), i) for n, c, i in named]
    found = None
    if not no_concepts:
        found = concepts(store, feature=feature, key=key, read=read, group=group,
                         min_count=min_count)
    val = value if value in ("mean", "zero") else float(value)
    res = concept_causality(model, vocab, store, found, units=tests, feature=feature, read=read,
                            group=group, min_count=min_count, top=top, n_random=n_random,
                            value=val, max_sentences=max_sentences, position=position,
                            alpha=alpha, seed=seed)
    table = res.table.copy()
    table.insert(table.columns.get_loc("unit") + 1, "unit_name",
                 [f"{k}:{int(u)}" for k, u in zip(table["key"], table["unit"])])
    _emit(table, csv_path, None, None,
          ["unit_name", "probe_class", "class", "delta_class", "delta_other", "random_mean",
           "p_value", "flag"])
    flagged = res.flagged()
    click.echo(f"{len(flagged)} of {int(res.table['probe_class'].notna().sum())} probe-found "
               "units show no causal effect on their class")


COMMANDS = [probe_cmd, concepts_cmd, correlate_cmd, sentiment_cmd, train_classifier_cmd,
            compare_cmd, causality_cmd]
