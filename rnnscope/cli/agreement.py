"""CLI of the number-agreement analyses (seed 004): ``na-tasks``, ``agreement``, ``ablate``,
``dynamics``, ``time-decoding``, ``syntax-units``, ``connectivity``, and the whole-sentence
``minimal-pairs`` (Marvin & Linzen, BLiMP), whose files ``ablate`` and ``patch`` also take
(``--minimal-pairs``).

Items come from the built-in generator (``--tasks``, ``--n``, ``--seed``) or from files
(``--lakretz FILE`` repeatable, ``--linzen X.text``, ``--gulordava generated.text``
repeatable). Files of the same name are separate tasks, named by their path.
Tables are printed and, with ``--out DIR``, written as CSV next to PNG figures.
"""
from __future__ import annotations

import functools
from pathlib import Path

import click

from rnnscope.cli.options import device_option, model_on
from rnnscope.errors import RnnscopeError
from rnnscope.distributed.cli import choose
from rnnscope.distributed.cluster import cluster_options


def _threads(n: int) -> None:
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)


def _model(path: str, vocab: str | None, trust_pickle: bool):
    from rnnscope.checkpoint import load_model

    return load_model(path, vocab=vocab, trust_pickle=trust_pickle)


def _one_model(positional: str | None, option: str | None) -> str:
    """The model path given as ``--model PATH`` or (the older form) as the positional MODEL:
    exactly one of the two."""
    if positional is not None and option is not None:
        raise click.UsageError("give the model once: --model PATH or the positional MODEL, "
                               "not both")
    if positional is None and option is None:
        raise click.UsageError("missing the model: give --model PATH (a model folder or a "
                               "foreign checkpoint)")
    return option if option is not None else positional


def model_options(f):
    """``--model PATH`` (or a positional MODEL, the older form), ``--vocab``,
    ``--trust-pickle``, ``--threads``, ``--out`` and ``--device``; the command gets the loaded
    model, its vocabulary and the output folder."""
    @click.argument("model_arg", metavar="[MODEL]", required=False, type=click.Path(exists=True))
    @click.option("--model", "model_opt", type=click.Path(exists=True), metavar="PATH",
                  help="Model folder (ours) or a foreign checkpoint (with --vocab); may also be "
                  "given as the positional MODEL.")
    @click.option("--vocab", type=click.Path(exists=True), help="Vocabulary of a foreign checkpoint.")
    @click.option("--trust-pickle", is_flag=True, help="Allow loading pickled foreign checkpoints.")
    @click.option("--threads", default=1, show_default=True, help="CPU threads (torch and BLAS).")
    @click.option("--out", type=click.Path(file_okay=False), help="Directory for CSV tables and PNG figures.")
    @device_option
    @functools.wraps(f)
    def wrapper(model_arg, model_opt, vocab, trust_pickle, threads, out, device, **kw):
        model = _one_model(model_arg, model_opt)
        _threads(threads)
        m, v = _model(model, vocab, trust_pickle)
        m = model_on(m, device)
        outdir = Path(out) if out else None
        if outdir:
            outdir.mkdir(parents=True, exist_ok=True)
        return f(m, v, outdir, **kw)
    return wrapper


def item_options(f):
    @click.option("--tasks", default=None, help="Comma-separated generated tasks (default: the seven "
                  "NA tasks; also SubjRel, DoubleSubjRel).")
    @click.option("--n", "n", default=600, show_default=True, help="Generated sentences per condition.")
    @click.option("--seed", default=0, show_default=True,
                  help="Random seed of the item generator (generated tasks only).")
    @click.option("--wordpools", type=click.Path(exists=True), help="JSON word pools replacing the shipped ones.")
    @click.option("--case", "case", type=click.Choice(["auto", "keep", "lower"]), default="auto",
                  show_default=True, help="Casing of every item (generated or read): 'auto' "
                  "lowercases them when the model's vocabulary is lowercased.")
    @click.option("--lowercase", is_flag=True, help="Same as --case lower.")
    @click.option("--lakretz", multiple=True, type=click.Path(exists=True), help="Lakretz NA-task file (repeatable).")
    @click.option("--linzen", type=click.Path(exists=True), help="Linzen X.text (X.gold next to it).")
    @click.option("--gulordava", multiple=True, type=click.Path(exists=True),
                  help="generated.text (generated.gold next to it); repeatable, e.g. one per language.")
    @functools.wraps(f)
    def wrapper(*a, tasks, n, seed, wordpools, case, lowercase, lakretz, linzen, gulordava, **kw):
        from rnnscope.agreement.sources import load_items, load_pairs

        case = "lower" if lowercase else case
        if kw.get("minimal_pairs"):  # commands with pair_options: the pairs replace NA items
            if tasks or lakretz or linzen or gulordava:
                raise RnnscopeError("--minimal-pairs replaces the NA items: drop --tasks, "
                                    "--lakretz, --linzen and --gulordava")
            pairs, note = load_pairs(kw["minimal_pairs"], a[1], kw["pair_format"], case)
            click.echo(note, err=True)
            return f(*a, items=pairs, **kw)
        items, note = load_items(a[1], tasks=tasks.split(",") if tasks else None, n=n, seed=seed,
                                 wordpools=wordpools, case=case, lakretz=lakretz, linzen=linzen,
                                 gulordava=gulordava)
        if note:
            click.echo(note, err=True)
        return f(*a, items=items, **kw)
    return wrapper


def pair_options(f):
    """``--minimal-pairs FILE`` (repeatable) and ``--format``: Marvin & Linzen or BLiMP items
    instead of NA items. Goes below :func:`item_options`, which then reads the pairs (cased
    by ``--case``) and passes them as ``items`` (a list of ``MinimalPair``)."""
    f = click.option("--format", "pair_format", default="auto", show_default=True,
                     type=click.Choice(["auto", "marvin-linzen", "blimp"]),
                     help="Format of --minimal-pairs files ('auto': .json is Marvin & Linzen, "
                     ".jsonl or a directory BLiMP).")(f)
    return click.option("--minimal-pairs", "minimal_pairs", multiple=True,
                        type=click.Path(exists=True), help="Marvin & Linzen JSON or BLiMP "
                        ".jsonl file or directory (.gz or not; repeatable) instead of the NA "
                        "items.")(f)


def _pair_items(pairs, vocab, hint: str = ""):
    """NA items of the minimal pairs differing in one word; prints what was kept and skipped
    (``hint``: a last line when some were skipped)."""
    from rnnscope.agreement.pair_sweeps import agreement_items

    conv = agreement_items(pairs, vocab, case="keep")  # item_options applied --case already
    lines = conv.summary()
    click.echo(lines[0])
    for line in lines[1:] + ([f"note: {hint}"] if hint and len(conv.skipped) else []):
        click.echo(line, err=True)
    if not conv.items:
        raise RnnscopeError("no minimal pair differs in exactly one word" +
                            (f"; {hint}" if hint else ""))
    return conv.items


def _show(title: str, table, outdir: Path | None, name: str) -> None:
    click.echo(f"\n{title}")
    click.echo(table.to_string(index=False) if len(table) else "(empty)")
    if outdir:
        table.to_csv(outdir / f"{name}.csv", index=False)


def _save(fig, outdir: Path | None, name: str) -> None:
    if outdir:
        fig.savefig(outdir / f"{name}.png", dpi=120)
        click.echo(f"wrote {outdir / name}.png")
    import matplotlib.pyplot as plt

    plt.close(fig)


#: the component naming (and usable by) each ``--mode`` of ``ablate`` / ``patch``
_MODE_UNITS = {"h": ("h", ("h",), "--mode h ablates the hidden state h"),
               "outgoing": ("h", ("h",), "--mode outgoing ablates h's outgoing weights"),
               "c": ("c", ("c",), "--mode c ablates the cell state c"),
               "both": ("h", ("h", "c"), "--mode both acts on a unit's h and c")}

UNITS_HELP = "(also 2:126 or the global number 776, of {what})"


def _units(spec: str, model, option: str, component: str = "h", usable=None, why: str = ""):
    """``(layer, unit)`` pairs named by ``spec`` (:mod:`rnnscope.units`' syntax); errors say
    which option they come from."""
    from rnnscope.agreement.units import parse_units

    try:
        return parse_units(spec, model.config, component, usable, why)
    except RnnscopeError as exc:
        raise RnnscopeError(f"{option}: {exc}") from None


def _names(units, component: str) -> str:
    from rnnscope.units import unit_name

    return ", ".join(unit_name(n, component, u) for n, u in units)


def _named(table, component: str | None = None, **kw):
    from rnnscope.units import add_unit_names

    return add_unit_names(table, component, **kw)


def _number_bias(result, outdir: Path | None, per_verb: bool) -> None:
    """One line on the preference for a verb number; with ``per_verb`` the per-verb table."""
    wins = result.plural_wins()
    if wins != wins:  # NaN: no item's condition gives the subject's number
        return
    table = result.by_verb()
    n = int(table["n_S"].sum() + table["n_P"].sum())
    click.echo(f"verb number: the plural form wins in {100 * wins:.1f}% of the {n:,} NA items "
               "(50% = no preference)" + ("" if per_verb else "; per verb: --by-verb"))
    if per_verb:
        shown = table.assign(**{c: table[c].round(1) for c in ("accuracy_S", "accuracy_P",
                                                               "plural_wins")})
        _show("accuracy (%) per verb with singular (S) and plural (P) subjects; plural_wins: "
              "% of its items won by the plural form", shown, outdir, "agreement_by_verb")
        if outdir:
            from rnnscope.agreement.lexical import plot_by_verb

            _save(plot_by_verb(table), outdir, "agreement_by_verb")


def _skips(result) -> None:
    if len(result.skipped):
        click.echo(f"\nskipped {len(result.skipped)} items (never scored):", err=True)
        for reason, k in result.skipped["reason"].value_counts().items():
            click.echo(f"  {k} x {reason}", err=True)
    for w in result.warnings:
        click.echo(f"warning: {w}", err=True)


@click.command("na-tasks", short_help="Write number-agreement task files (Lakretz format).")
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--tasks", default=None, help="Comma-separated tasks (default: the seven NA tasks).")
@click.option("--extra", is_flag=True, help="Also SubjRel and DoubleSubjRel.")
@click.option("--n", "n", default=600, show_default=True, help="Sentences per condition.")
@click.option("--seed", default=0, show_default=True, help="Random seed of the item generator.")
@click.option("--wordpools", type=click.Path(exists=True), help="JSON word pools replacing the shipped ones.")
@click.option("--lowercase", is_flag=True,
              help="Write the sentences in lower case (for a lowercased vocabulary).")
def na_tasks(out_dir, tasks, extra, n, seed, wordpools, lowercase):
    """Generate number-agreement task files into OUT_DIR, one per task, in the format of
    Lakretz et al. (2019), "The emergence of number and syntax units in LSTM language models"."""
    from rnnscope.agreement import tasks as T
    from rnnscope.agreement.formats import write_lakretz

    names = tasks.split(",") if tasks else list(T.TASKS) + (list(T.EXTRA_TASKS) if extra else [])
    items = T.generate(names, n=n, seed=seed, pools=T.load_wordpools(wordpools),
                       capitalize=not lowercase)
    for task in dict.fromkeys(it.task for it in items):
        path = write_lakretz([it for it in items if it.task == task], Path(out_dir) / f"{task}.txt")
        click.echo(f"wrote {path} ({sum(it.task == task for it in items)} items)")


@click.command("wordpools", short_help="Word pools without the forms rare in a training text.")
@click.option("--corpus", "corpora", multiple=True, required=True, type=click.Path(exists=True),
              help="The model's training text (repeatable; .gz read transparently).")
@click.option("--treebank", multiple=True, type=click.Path(exists=True),
              help="CoNLL-U treebank(s) for the part of speech of the verb forms (repeatable).")
@click.option("--wordpools", type=click.Path(exists=True), help="Pools to filter (default: the shipped ones).")
@click.option("--min-count", default=20, show_default=True,
              help="Keep a pair only if each form occurs this often in the corpus.")
@click.option("--min-verb-share", default=0.9, show_default=True,
              help="With --treebank: keep a verb pair only if each form is tagged VERB/AUX in "
              "at least this share of its treebank uses.")
@click.option("--lowercase", is_flag=True, help="Count the corpus lowercased.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write the filtered pools (JSON, for --wordpools).")
def wordpools_cmd(corpora, treebank, wordpools, min_count, min_verb_share, lowercase, out_path):
    """Write NA word pools keeping only the noun and verb pairs whose forms are frequent in
    the model's training text (and, with --treebank, verb pairs that are mostly verbs), so
    that agreement is not scored on forms the model has barely seen or knows as nouns."""
    import shlex

    from rnnscope.agreement.pool_filter import (PAIR_POOLS, filter_pools, text_counts,
                                                treebank_tags, write_pools)
    from rnnscope.agreement.tasks import load_wordpools

    pools = load_wordpools(wordpools)
    counts = text_counts(corpora, lowercase=lowercase)
    forms = [w for pair in pools["verbs"] for w in pair]
    tags = treebank_tags(treebank, forms) if treebank else None
    kept, report = filter_pools(pools, counts, min_count=min_count, tags=tags,
                                min_verb_share=min_verb_share, lowercase=lowercase)
    shares = ("verb_share_singular", "verb_share_plural")
    shown = (report.drop(columns=list(shares)) if tags is None
             else report.assign(**{c: (100 * report[c]).round(0) for c in shares}))
    _show("pairs kept and dropped (verb_share: % of the form's treebank uses tagged VERB/AUX)",
          shown, None, "")
    argv = ["rnnscope", "wordpools", *(a for c in corpora for a in ("--corpus", c)),
            *(a for t in treebank for a in ("--treebank", t)),
            *(["--wordpools", wordpools] if wordpools else []), "--min-count", str(min_count),
            *(["--min-verb-share", str(min_verb_share)] if treebank else []),
            *(["--lowercase"] if lowercase else []), "--out", out_path]
    about = (f"NA word pools filtered by '{shlex.join(argv)}': "
             + ", ".join(f"{len(kept[k])} of {len(pools[k])} {k}" for k in PAIR_POOLS) + " kept.")
    path = write_pools(kept, out_path, about)
    click.echo("\n" + about)
    click.echo(f"wrote {path} (use: --wordpools {path})")


@click.command("agreement", short_help="Number-agreement accuracy per task and condition.")
@model_options
@item_options
@click.option("--by-verb", is_flag=True, help="Also the accuracy per verb with singular and "
              "plural subjects, most plural-biased first (is a number bias lexical?).")
def agreement(model, vocab, outdir, items, by_verb):
    """Number-agreement accuracy of the model per task and condition: the correct verb form
    must be more probable than the wrong one (Lakretz et al. 2019)."""
    from rnnscope.agreement import score

    from rnnscope.corpus.unknown import unknown_report

    res = score(model, vocab, items)
    t = res.table.assign(accuracy=lambda d: (100 * d["accuracy"]).round(1))
    unk = res.items.groupby(["task", "condition"], sort=False)["n_unk"].apply(lambda v: int((v > 0).sum()))
    t["unk_prefixes"] = [int(unk.get((a, b), 0)) for a, b in zip(t["task"], t["condition"])]
    _show("accuracy (%) per task and condition (unk_prefixes: items with an unknown prefix word)",
          t, outdir, "agreement")
    click.echo(unknown_report((it.prefix for it in items), vocab.stoi).line("prefix words"), err=True)
    _number_bias(res, outdir, by_verb)
    _skips(res)
    from rnnscope.agreement.formats import gulordava_summary

    gs = gulordava_summary(res.items, items)
    if len(gs):
        gs = gs.assign(original=(100 * gs["original"]).round(1), nonce=(100 * gs["nonce"]).round(1))
        _show("Gulordava et al.: accuracy (%) on original vs nonce sentences", gs, outdir,
              "gulordava_summary")
    if outdir:
        res.items.to_csv(outdir / "agreement_items.csv", index=False)
        res.skipped.to_csv(outdir / "agreement_skipped.csv", index=False)
        _save(res.plot(), outdir, "agreement")


@click.command("ablate", short_help="Single-unit or subset ablation on agreement items.")
@model_options
@item_options
@click.option("--mode", type=click.Choice(["h", "c", "both", "outgoing"]), default="h", show_default=True,
              help="What is ablated: hidden state, cell state, both, or outgoing weights.")
@click.option("--layers", default=None, help="Comma-separated 1-based layers to sweep (default all).")
@click.option("--subset", default=None, help="Ablate these units together instead, e.g. "
              "layer2.h:126,layer2.h:338 " + UNITS_HELP.format(what="the component --mode ablates")
              + ", against --n-random random sets of the same size.")
@click.option("--n-random", default=1000, show_default=True,
              help="With --subset: random unit sets of the same size for the permutation p-value.")
@click.option("--threshold", default=10.0, show_default=True, help="Accuracy drop (points) to report.")
@click.option("--max-rows", default=1024, show_default=True, help="Rows per batched pass.")
@click.option("--scoring", type=click.Choice(["word", "sentence"]), default="word",
              show_default=True, help="Minimal pairs: compare the one differing word after "
              "the shared prefix (batched, fast), or whole-sentence log-probabilities as "
              "'rnnscope minimal-pairs' does (every pair, slower).")
@pair_options
@cluster_options
def ablate(model, vocab, outdir, items, mode, layers, subset, n_random, threshold, max_rows,
           scoring, minimal_pairs, pair_format, cluster=None, workers=None):
    """Single-unit ablation sweep (Lakretz et al. 2019, Table 2 layout), or subset ablation
    with a permutation p-value.

    With --minimal-pairs, the items are Marvin & Linzen or BLiMP pairs, reported per
    template / paradigm and condition (see --scoring).
    """
    from rnnscope.agreement.ablation import ablation_sweep, subset_ablation

    try:
        layer_list = [int(x) for x in layers.split(",")] if layers else None
    except ValueError:
        raise RnnscopeError(f"--layers must be comma-separated integers, got {layers!r}") from None
    if minimal_pairs and scoring == "sentence":
        from rnnscope.agreement.pair_sweeps import sentence_sweep

        if subset or cluster or workers:
            raise RnnscopeError("--subset, --cluster and --workers need --scoring word")
        res = sentence_sweep(model, vocab, items, mode=mode, layers=layer_list, case="keep")
        _report_sweep(res, outdir, threshold, mode, "whole-sentence log-probability")
        return
    if minimal_pairs:
        items = _pair_items(items, vocab, "--scoring sentence scores every pair")
    if subset:
        comp, usable, why = _MODE_UNITS[mode]
        chosen = _units(subset, model, "--subset", comp, usable, why)
        res = subset_ablation(model, vocab, items, chosen, n_random=n_random, mode=mode,
                              max_rows=max_rows)
        _show(f"subset ablation ({mode}) of {_names(chosen, comp)} vs {n_random} random sets",
              res.table.round(4), outdir, "subset_ablation")
        if outdir:
            res.random_accuracy.to_csv(outdir / "subset_random_accuracy.csv", index=False)
            _save(res.plot(), outdir, "subset_ablation")
        return
    ablation_sweep = choose(ablation_sweep,
                            "rnnscope.distributed.ablate:ablation_sweep_distributed", cluster, workers)
    res = ablation_sweep(model, vocab, items, mode=mode, layers=layer_list, max_rows=max_rows)
    _skips(res.full)
    _report_sweep(res, outdir, threshold, mode,
                  "the differing word after the shared prefix" if minimal_pairs else None)


def _report_sweep(res, outdir: Path | None, threshold: float, mode: str, pairs: str | None) -> None:
    """The sweep in the layout of Lakretz et al.'s Table 2, the chance units (NA items only:
    pairs have no incongruent conditions) and, with ``--out``, the long table and its plot.
    ``pairs``: how minimal pairs were scored (``None`` for NA items)."""
    scored = f"; minimal pairs scored by {pairs}" if pairs else ""
    comp = _MODE_UNITS.get(mode, ("h",))[0]
    report = res.report(threshold)
    _show(f"accuracy (%) with single units ablated ({mode}; Lakretz et al.'s Table 2 layout); "
          f"'-' = drop < {threshold:g} points{scored}", report, outdir, "ablation_report")
    named = _named(res.units, comp)
    legend = [f"{g} = {name}" for g, name in zip(named["global_unit"], named["unit_name"])
              if str(g) in report.columns]
    if legend:
        click.echo("columns are global unit numbers: " + ", ".join(legend))
    if not pairs:
        _show("units whose ablation brings incongruent conditions to chance",
              _named(res.chance_units(), comp), outdir, "chance_units")
    if outdir:
        _named(res.table, comp).to_csv(outdir / "ablation_sweep.csv", index=False)
        _save(res.plot(), outdir, "ablation_sweep")


@click.command("dynamics", short_help="Gate and cell dynamics of units per condition.")
@model_options
@item_options
@click.option("--units", required=True, help="Units, e.g. layer2.h:126,layer2.h:338 "
              "(also 2:126 or the global number 776); each is shown in every --components.")
@click.option("--components", default=None, help="Comma-separated (default: all of the cell, "
              "LSTM i,f,o,g,c,h).")
@click.option("--no-verb", is_flag=True, help="Stop at the last prefix word.")
def dynamics(model, vocab, outdir, items, units, components, no_verb):
    """Gate and cell dynamics of UNITS per condition, and their efferent verb weights."""
    from rnnscope.agreement.dynamics import efferent_weights, unit_dynamics

    chosen = _units(units, model, "--units")
    comps = components.split(",") if components else [c for c in ("i", "f", "o", "g", "c", "h", "r", "z", "n")
                                                       if c in model.components]
    res = unit_dynamics(model, vocab, items, chosen, comps, include_verb=not no_verb)
    _show("mean activity per word position",
          _named(res.table.round(4), component_column="component"), outdir, "dynamics")
    for task in dict.fromkeys(res.table["task"]):
        for n, u in chosen:
            _save(res.plot(n, u, task), outdir, f"dynamics_{task}_{n}_{u}")
    top = [(n, u) for n, u in chosen if n == model.config.num_layers]
    pairs = list(dict.fromkeys((it.correct, it.wrong) if it.subject_number == "singular"
                               else (it.wrong, it.correct) for it in items
                               if it.subject_number is not None))
    if top and pairs and not model.linear_output:
        click.echo("note: no efferent weights: this model's adaptive output layer gives no "
                   "single weight from a unit to a verb form", err=True)
    elif top and pairs:
        eff = efferent_weights(model, vocab, top, pairs)
        table = _named(eff.table, "h")
        _show("efferent weights of h to verb forms (mean per number)",
              table.groupby(["global_unit", "unit_name", "number"])["weight"]
              .agg(["mean", "std", "count"]).reset_index().round(4), outdir, "efferent_summary")
        if outdir:
            table.to_csv(outdir / "efferent_weights.csv", index=False)
        _save(eff.plot(), outdir, "efferent_weights")


@click.command("time-decoding", short_help="Decode subject number across time (ROC-AUC).")
@model_options
@item_options
@click.option("--units", default=None, help="Units to decode from, e.g. layer2.c:0-99 "
              + UNITS_HELP.format(what="--component") + " [default: all units of all layers].")
@click.option("--exclude", default=None, help="Units to leave out, e.g. the number units "
              "layer2.c:126,layer2.c:338 (same forms as --units).")
@click.option("--component", default="c", show_default=True,
              help="Component whose states are decoded (c, h, or a gate).")
@click.option("--conditions", default="incongruent", show_default=True,
              help="'incongruent', 'all', or a comma-separated list (e.g. SP,PS).")
@click.option("--cv", default=5, show_default=True, help="Cross-validation folds.")
def time_decoding_cmd(model, vocab, outdir, items, units, exclude, component, conditions, cv):
    """Decode subject number across time (train x test ROC-AUC, cross-validated)."""
    from rnnscope.agreement.time_decoding import time_decoding
    from rnnscope.keys import key

    cfg = model.config
    spec = units or ",".join(f"{key(n, component)}:*" for n in range(1, cfg.num_layers + 1))
    why = f"time-decoding decodes --component {component}"
    chosen = _units(spec, model, "--units", component, (component,), why)
    if exclude:
        drop = set(_units(exclude, model, "--exclude", component, (component,), why))
        chosen = [u for u in chosen if u not in drop]
    if conditions == "incongruent":
        items = [it for it in items if it.incongruent]
    elif conditions != "all":
        wanted = set(conditions.split(","))
        items = [it for it in items if it.condition in wanted]
    tasks = list(dict.fromkeys(it.task for it in items))
    if len(tasks) != 1:
        raise RnnscopeError(f"time decoding needs one task (one structure); got {tasks or 'none'} "
                            "(use --tasks NounPP)")
    res = time_decoding(model, vocab, items, chosen, component=component, cv=cv)
    _show(f"{tasks[0]}: AUC of the classifier trained at the subject", res.from_position().round(3),
          outdir, "time_decoding_subject")
    if outdir:
        res.table.to_csv(outdir / "time_decoding_matrix.csv", index=False)
    _save(res.plot(), outdir, "time_decoding_subject")
    _save(res.plot_matrix(), outdir, "time_decoding_matrix")


def _range(text: str, option: str) -> tuple[int, int]:
    try:
        lo, hi = (int(x) for x in text.split("-"))
    except ValueError:
        raise RnnscopeError(f"{option} must be LO-HI (e.g. 7-12), got {text!r}") from None
    if lo > hi:
        raise RnnscopeError(f"{option}: {lo} is above {hi}")
    return lo, hi


@click.command("syntax-units", short_help="Find syntax units: ridge regression of tree depth.")
@model_options
@click.option("--per-length", default=None, type=int, help="Sentences per length (default 300 "
              "per length 2..25 for the generated set; all sentences of --depth-file).")
@click.option("--depth-file", type=click.Path(exists=True), help="The published depth file "
              "(sentence | parse | open nodes | brackets per line, .gz or not) instead of the "
              "generated set.")
@click.option("--per-cell", default=None, type=int, help="Points per (position, depth) cell "
              "(default: as many as the smallest cell has).")
@click.option("--positions", default="7-12", show_default=True,
              help="1-based word positions sampled (inclusive range).")
@click.option("--depths", default="3-8", show_default=True, help="Open-node counts sampled (inclusive).")
@click.option("--case", "case", type=click.Choice(["auto", "keep", "lower"]), default="auto",
              show_default=True, help="Casing of the sentences ('auto': lowercase them when the "
              "vocabulary is lowercased).")
@click.option("--component", default="h", show_default=True,
              help="Component whose states predict the depth (h, c, or a gate).")
@click.option("--seed", default=0, show_default=True,
              help="Random seed of the sentence generation and sampling.")
@click.option("--frequencies", type=click.Path(exists=True),
              help="TSV word<TAB>count for the frequency covariate (default: vocabulary rank).")
def syntax_units_cmd(model, vocab, outdir, per_length, depth_file, per_cell, positions, depths,
                     case, component, seed, frequencies):
    """Find syntax units: ridge regression of syntactic depth (open nodes) on the units, with
    nested 5-fold CV (Lakretz et al. 2019)."""
    from rnnscope.agreement.casing import vocab_is_lowercased
    from rnnscope.agreement.syntax_units import (generate_depth_dataset, read_depth_file,
                                                 syntax_units)

    freq = None
    if frequencies:
        freq = {}
        for n, line in enumerate(Path(frequencies).read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split("\t")
            try:
                freq[parts[0]] = float(parts[1])
            except (IndexError, ValueError):
                raise RnnscopeError(f"{frequencies}:{n}: expected word<TAB>count") from None
    window = {"positions": _range(positions, "--positions"), "depths": _range(depths, "--depths")}
    if depth_file:
        ds = read_depth_file(depth_file, per_cell=per_cell, per_length=per_length, seed=seed,
                             **window)
    else:
        ds = generate_depth_dataset(per_length=per_length or 300, per_cell=per_cell, seed=seed,
                                    **window)
    if case == "lower" or (case == "auto" and vocab_is_lowercased(vocab)):
        ds.sentences = [[w.lower() for w in s] for s in ds.sentences]
        click.echo("case: sentences lowercased" + (" (the vocabulary is lowercased)"
                                                    if case == "auto" else ""), err=True)
    click.echo(f"depth data set: {len(ds.points)} points from {ds.points['sentence'].nunique()} "
               f"sentences ({ds.info['cells']} position x depth cells, {ds.info['per_cell']} each)")
    res = syntax_units(model, vocab, ds, component=component, frequency=freq)
    click.echo(res.summary())
    _show("units with |z| > 3", _named(res.outliers.round(4), component), outdir,
          "syntax_units_outliers")
    if outdir:
        _named(res.table, component).to_csv(outdir / "syntax_units_weights.csv", index=False)
        ds.points.to_csv(outdir / "depth_points.csv", index=False)
    _save(res.plot(), outdir, "syntax_units")


@click.command("connectivity", short_help="Recurrent weights between units, as z-scores.")
@model_options
@click.option("--sources", required=True, help="Projecting units (their h), e.g. layer2.h:500 "
              "(also 2:500 or the global number 1150).")
@click.option("--targets", required=True, help="Receiving units, e.g. layer2.h:126,layer2.h:338 "
              "(also 2:126 or the global number 776); the weights into each of their gates "
              "are shown.")
@click.option("--scale-task", default=None, help="Scale weights by the sources' max |h| on this task.")
@click.option("--n", "n", default=100, show_default=True, help="Sentences per condition for --scale-task.")
def connectivity_cmd(model, vocab, outdir, sources, targets, scale_task, n):
    """Recurrent weights from SOURCES to the gates of TARGETS, as z-scores."""
    from rnnscope.agreement.connectivity import connectivity, max_activity
    from rnnscope.agreement.tasks import generate

    scale = None
    if scale_task:
        from rnnscope.agreement.casing import normalise_case

        items, note = normalise_case(generate([scale_task], n=n), vocab, "auto")
        click.echo(note, err=True)
        scale = max_activity(model, vocab, items)
    src = _units(sources, model, "--sources", "h", ("h",), "a unit projects through its h")
    res = connectivity(model, src, _units(targets, model, "--targets"), scale=scale)
    table = _named(res.table, "h", layer="source_layer", unit="source_unit", name="source_name")
    table = _named(table, layer="target_layer", unit="target_unit", name="target_name",
                   component_column="gate")
    _show("connectivity (z against all afferent weights of the target gate)", table.round(4),
          outdir, "connectivity")
    _save(res.plot(), outdir, "connectivity")


@click.command("minimal-pairs", short_help="Minimal pairs: is the grammatical sentence likelier?")
@model_options
@click.option("--marvin-linzen", "marvin_linzen", multiple=True, type=click.Path(exists=True),
              help="Marvin & Linzen templates as JSON {template: {condition: [[good, bad], ...]}} "
              "(.gz or not; repeatable).")
@click.option("--blimp", multiple=True, type=click.Path(exists=True),
              help="BLiMP .jsonl file or a directory of them (.gz or not; repeatable).")
@click.option("--mean", is_flag=True, help="Compare mean log-probability per token, not the total.")
@click.option("--case", "case", type=click.Choice(["auto", "keep", "lower"]), default="auto",
              show_default=True, help="'auto' lowercases the sentences when the vocabulary is lowercased.")
def minimal_pairs_cmd(model, vocab, outdir, marvin_linzen, blimp, mean, case):
    """Whole-sentence minimal pairs: is the grammatical sentence the more probable one?"""
    from rnnscope.agreement.minimal_pairs import read_blimp, read_marvin_linzen, score_pairs

    if not marvin_linzen and not blimp:
        raise RnnscopeError("give --marvin-linzen FILE or --blimp FILE (or both)")
    pairs = [p for path in marvin_linzen for p in read_marvin_linzen(path)]
    pairs += [p for path in blimp for p in read_blimp(path)]
    res = score_pairs(model, vocab, pairs, mean=mean, case=case)
    click.echo(res.case_note, err=True)
    share = res.unk_share
    click.echo(f"unknown words: {sum(res.unknown.values())} of {res.n_tokens} tokens "
               f"({100 * share:.1f}%) became <unk>")
    if share > 0.05:
        common = ", ".join(f"{w} ({k})" for w, k in res.unknown.most_common(8))
        click.echo(f"warning: more than 5% of the tokens are unknown to the model; commonest: {common}",
                   err=True)
    what = "mean log-probability per token" if mean else "total log-probability"
    pct = lambda t: t.assign(**{c: (100 * t[c]).round(1) for c in ("accuracy", "vs_2", "vs_3")  # noqa: E731
                                if c in t})
    _show(f"accuracy (%) per task and condition ({what}; vs_2 / vs_3: against the 2nd / 3rd "
          "sentence of triples)", pct(res.table), outdir, "minimal_pairs")
    _show("accuracy (%) per task", pct(res.overall()), outdir, "minimal_pairs_overall")
    if outdir:
        res.items.to_csv(outdir / "minimal_pairs_items.csv", index=False)


@click.command("patch", short_help="Activation patching per unit on agreement items.")
@model_options
@item_options
@click.option("--mode", type=click.Choice(["h", "c", "both"]), default="both", show_default=True,
              help="Which states of a unit are taken from the twin sentence.")
@click.option("--layers", default=None, help="Comma-separated 1-based layers to sweep (default all).")
@click.option("--top", default=10, show_default=True, help="Units listed by flip rate.")
@click.option("--max-rows", default=2048, show_default=True, help="Rows per batched pass.")
@pair_options
def patch_cmd(model, vocab, outdir, items, mode, layers, top, max_rows, minimal_pairs, pair_format):
    """Interchange intervention (activation patching) per unit on agreement items.

    Every generated item is paired with its twin whose subject has the other number ("the boy
    near the cars" / "the boys near the cars"); each unit alone is patched from the twin's run
    into the item's, at every step. A unit that carries the subject's number flips the
    model's choice between the two verb forms. Prints the units with the highest flip rate.
    With --minimal-pairs, each pair differing in one word is paired with the file's item whose
    two forms are swapped and whose prefix differs in one word ("the author laughs / laugh"
    with "the authors laugh / laughs").
    """
    from rnnscope.agreement.pair_sweeps import twin_patch_sweep
    from rnnscope.agreement.patching import patch_sweep

    if top < 1:
        raise RnnscopeError(f"--top must be at least 1, got {top}")
    try:
        layer_list = [int(x) for x in layers.split(",")] if layers else None
    except ValueError:
        raise RnnscopeError(f"--layers must be comma-separated integers, got {layers!r}") from None
    sweep = patch_sweep
    if minimal_pairs:
        items, sweep = _pair_items(items, vocab), twin_patch_sweep
    res = sweep(model, vocab, items, mode=mode, layers=layer_list, max_rows=max_rows)
    comp = _MODE_UNITS[mode][0]
    best = _named(res.top(top), comp).assign(flip_rate=lambda d: (100 * d["flip_rate"]).round(1))
    _show(f"units whose patching ({mode}) from the number-flipped twin flips the verb choice "
          f"(% of {len(res.pairs)} pairs)", best[["unit_name", "global_unit", "n", "flip_rate"]],
          outdir, "patch_top")
    if outdir:
        _named(res.table, comp).to_csv(outdir / "patch_sweep.csv", index=False)
        res.pairs.to_csv(outdir / "patch_pairs.csv", index=False)


COMMANDS = [na_tasks, wordpools_cmd, agreement, ablate, dynamics, time_decoding_cmd, syntax_units_cmd,
            connectivity_cmd, minimal_pairs_cmd, patch_cmd]
