"""CLI verbs of the state-gradient memory analysis (seed 003).

``gradients`` (memory curves, per-class ranking, per-word decay fits), ``memory-compare``
(several models / states on one plot), ``synthetic-data`` (the A B B ... dataset) and
``lda-probe`` (Table 1 and the Fig 3 projections on a model trained on it).
"""
from __future__ import annotations

from pathlib import Path

import click

from rnnscope.cli.options import device_option, local_device, model_on
from rnnscope.distributed.cli import choose
from rnnscope.distributed.cluster import cluster_options

_OUT = click.option("--out", default=None, help="Folder for tables (CSV) and plots (PNG).")


def _load(path: str):
    """Our checkpoint folder or a training run folder (its ``model/``)."""
    from rnnscope.checkpoint import is_native, load_model

    p = Path(path)
    if not is_native(p) and is_native(p / "model"):
        p = p / "model"
    return load_model(p)


def _read(corpus: str, ptb: bool):
    from rnnscope.analysis.gradients import ptb_normalise
    from rnnscope.corpus.readers import read_corpus

    c = read_corpus(corpus)
    return ptb_normalise(c) if ptb else c


def _save(out, name, table=None, fig=None) -> None:
    if out is None:
        return
    p = Path(out)
    p.mkdir(parents=True, exist_ok=True)
    if table is not None:
        table.to_csv(p / f"{name}.csv", index=False)
    if fig is not None:
        fig.savefig(p / f"{name}.png", dpi=120)


def _common(fn):
    opts = [
        click.option("--corpus", required=True, help="Text, CoNLL-U or the WSJ treebank .zip."),
        click.option("--ptb-normalise", is_flag=True,
                     help="Lowercase, numbers -> N, drop punctuation (like the PTB LM text)."),
        click.option("--state", "states", multiple=True, default=["layer1.c"], show_default=True,
                     help="State key(s): layer{n}.c / layer{n}.h."),
        click.option("--max-delay", type=int, default=50, show_default=True,
                     help="Largest delay tau: gradients of state(t + tau) w.r.t. embedding(t)."),
        click.option("--window", type=int, default=200, show_default=True,
                     help="Units per sequence (each from the zero state); 0 = one sequence per sentence."),
        click.option("--max-units", type=int, default=None, help="Analyse only the first N units."),
        click.option("--basis", type=click.Choice(["normalised", "raw", "onehot"]), default="normalised",
                     show_default=True, help="G D (normalised), G, or G w.r.t. the one-hot input."),
        click.option("--threads", type=int, default=1, show_default=True, help="torch/BLAS threads."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@click.command("gradients", short_help="Memory of a state: state gradients and their SVD.")
@click.option("--model", "model_path", required=True, help="Model folder or training run folder.")
@_common
@click.option("--group-by", default=None,
              help="Average per class of the token at t: an annotation column (xpos, upos) or 'word'.")
@click.option("--freq-from", default=None, help="Corpus to count word frequencies in (default: --corpus).")
@click.option("--min-count", type=int, default=1, show_default=True, help="With --group-by word: minimum tokens.")
@click.option("--property", "properties", multiple=True,
              help="Difference vector between two tag sets, e.g. 'sg-pl=NN,NNP:NNS,NNPS' (needs --group-by "
                   "a tag column): separability, relative memory m and cos with the top-1/5 directions.")
@_OUT
@cluster_options
@device_option
def gradients_cmd(model_path, corpus, ptb_normalise, states, max_delay, window, max_units, basis, threads,
                  group_by, freq_from, min_count, properties, out,
                  cluster=None, workers=None, device="auto"):
    """State-gradient memory (Verwimp et al., "State gradients for analyzing memory in LSTM
    language models"): sigma1 and sigma1/sum over delays, per class ranking, decay fits."""
    import torch

    from rnnscope.analysis.memory import memory
    from rnnscope.analysis.memory_runs import frequencies, memory_inputs, parse_property

    torch.set_num_threads(threads)
    model, vocab = _load(model_path)
    model = model_on(model, local_device(device, cluster, workers))
    c = _read(corpus, ptb_normalise)
    seqs, labels = memory_inputs(c, vocab, group_by, window, max_units, min_count)
    freqs = frequencies(c, freq_from) if group_by == "word" else None
    props = [parse_property(spec) for spec in properties]
    if props and (labels is None or group_by == "word"):
        from rnnscope.errors import RnnscopeError

        raise RnnscopeError("--property needs --group-by with a tag column (xpos or upos)")
    memory = choose(memory, "rnnscope.distributed.gradients:memory_distributed", cluster, workers)
    for state in states:
        res = memory(model, seqs, state, max_delay, labels, basis=basis, frequencies=freqs, label=state)
        tab = res.table
        tag = state.replace(".", "_")
        _save(out, f"memory_{tag}", tab, res.plot())
        show = tab[tab.group == "all"].set_index("delay")
        click.echo(f"{state} ({basis}), {int(show['count'].iloc[0])} positions")
        click.echo(show.loc[[d for d in (0, 1, 2, 5, 10, 20, 30, 40, 50) if d in show.index],
                            ["count", "sigma1", "ratio1", "ratio5"]].to_string(float_format="%.4g"))
        if labels is not None and group_by != "word":
            rank = res.ranking(0)
            click.echo(f"\nper {group_by} at delay 0 (by sigma1):")
            click.echo(rank[["group", "count", "sigma1", "sigma_sum"]].head(20).to_string(index=False,
                                                                                        float_format="%.4g"))
            _save(out, f"ranking_{tag}", rank)
        if group_by == "word":
            fit = res.fit_decay()
            _save(out, f"decay_{tag}", fit.table)
            rel = fit.relation("b", bins=[0, 0.1, 0.2, 0.4, 0.8, float("inf")])
            rel0 = fit.relation("sigma1_0")
            click.echo("\n% of words per frequency bin (rows) by fitted decay b (columns):")
            click.echo(rel.to_string())
            click.echo("\n% of words per frequency bin (rows) by sigma1 at delay 0 (columns):")
            click.echo(rel0.to_string())
            if out:
                _save(out, f"decay_relation_{tag}", rel.reset_index(), fit.plot_relation("b"))
        for name, a_tags, b_tags in props:
            _property(model, seqs, labels, name, a_tags, b_tags, state, max_delay, basis, out)


def _property(model, seqs, labels, name, a_tags, b_tags, state, max_delay, basis, out) -> None:
    """Seed section 5: a property as a difference vector, averaged over the tokens of both classes."""
    from rnnscope.analysis.memory_runs import property_memory

    res = property_memory(model, seqs, labels, name, a_tags, b_tags, state, max_delay, basis)
    pm = res.table
    click.echo(f"\nproperty {name}: {res.n_a} vs {res.n_b} word types, logistic-regression separability "
               f"{100 * res.separability:.1f}%; averaged over {res.n_tokens} tokens")
    click.echo(pm.set_index("delay").loc[[d for d in (0, 1, 2, 5, 10, 20, 30, 40, 50) if d in pm.delay.values],
                                         ["m", "cos1", "cos5"]].to_string(float_format="%.3f"))
    _save(out, f"property_{name}_{state.replace('.', '_')}", pm)


@click.command("memory-compare", short_help="State-gradient memory of several models, one plot.")
@click.option("--model", "models", multiple=True, required=True, help="Model folder(s); repeat.")
@click.option("--name", "names", multiple=True, help="A label per --model (default: folder name).")
@click.option("--random-init", is_flag=True, help="Also show a randomly initialised copy of the first model.")
@_common
@_OUT
@device_option
def compare_cmd(models, names, random_init, corpus, ptb_normalise, states, max_delay, window, max_units,
                basis, threads, out, device):
    """sigma1 and sigma1/sum against delay for several models and states on one plot."""
    import torch

    from rnnscope.analysis.memory import compare_memory, memory
    from rnnscope.errors import RnnscopeError
    from rnnscope.model import RecurrentLM

    torch.set_num_threads(threads)
    if names and len(names) != len(models):
        raise RnnscopeError(f"{len(names)} --name for {len(models)} --model")
    c = _read(corpus, ptb_normalise)
    loaded = []
    for k, path in enumerate(models):
        model, vocab = _load(path)
        loaded.append((names[k] if names else Path(path).name, model_on(model, device), vocab))
    if random_init:
        name, model, vocab = loaded[0]
        torch.manual_seed(0)
        fresh = RecurrentLM(model.config).eval().to(next(model.parameters()).device)
        loaded.append((f"{name} random init", fresh, vocab))
    results = {}
    from rnnscope.analysis.memory_runs import memory_inputs

    for name, model, vocab in loaded:
        seqs, _ = memory_inputs(c, vocab, None, window, max_units)
        for state in states:
            if state.split(".")[-1] not in model.family.gradient_states:
                state = state.rsplit(".", 1)[0] + ".h"
            results[f"{name} {state}"] = memory(model, seqs, state, max_delay, basis=basis)
    comp = compare_memory(results)
    _save(out, "memory_compare", comp.table, comp.plot())
    t = comp.table
    wide = t.pivot(index="delay", columns="name", values="sigma1")
    click.echo("sigma1 by delay:")
    click.echo(wide.loc[[d for d in (0, 1, 5, 10, 20, 30, 40, 50) if d in wide.index]].to_string(float_format="%.4g"))
    wide = t.pivot(index="delay", columns="name", values="ratio1")
    click.echo("\nsigma1/sum by delay:")
    click.echo(wide.loc[[d for d in (0, 1, 5, 10, 20, 30, 40, 50) if d in wide.index]].to_string(float_format="%.4g"))


@click.command("synthetic-data", short_help="Write the synthetic repeated-token memory data set.")
@click.option("--out", required=True, help="Folder for train.txt, valid.txt, test.txt.")
@click.option("--train-tokens", type=int, default=1_000_000, show_default=True,
              help="Tokens in train.txt (rounded to whole lines).")
@click.option("--valid-tokens", type=int, default=50_000, show_default=True,
              help="Tokens in valid.txt (rounded to whole lines).")
@click.option("--test-tokens", type=int, default=50_000, show_default=True,
              help="Tokens in test.txt (rounded to whole lines).")
@click.option("--vocab-size", type=int, default=10, show_default=True,
              help="Distinct tokens (A, B, C, ...).")
@click.option("--repeats", type=int, default=15, show_default=True,
              help="Repetitions of the previous new token in each cycle.")
@click.option("--min-cycles", type=int, default=5, show_default=True,
              help="Fewest cycles per line.")
@click.option("--max-cycles", type=int, default=10, show_default=True,
              help="Most cycles per line.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the text.")
def synthetic_cmd(out, train_tokens, valid_tokens, test_tokens, vocab_size, repeats, min_cycles, max_cycles, seed):
    """Write the synthetic "A B B ... B C A A ..." dataset of Verwimp et al.'s state-gradient
    paper: each cycle is a new random token, then repeats of the previous cycle's new token."""
    from rnnscope.synthetic import (exact_perplexity_floor, theoretical_perplexity, token_perplexity_floor,
                                    write_splits)

    settings = dict(vocab_size=vocab_size, repeats=repeats, min_cycles=min_cycles, max_cycles=max_cycles)
    paths = write_splits(out, train_tokens, valid_tokens, test_tokens, seed=seed, **settings)
    for split, p in paths.items():
        click.echo(f"{split}: {p}")
    click.echo(f"theoretical perplexity (appendix formula): {theoretical_perplexity(**settings):.4f}; "
               f"per-token floor {token_perplexity_floor(**settings):.4f}; with the line-end uncertainty "
               f"the formula ignores {exact_perplexity_floor(**settings):.4f}")


@click.command("lda-probe", short_help="LDA probes on states of the synthetic-data model.")
@click.option("--model", "model_path", required=True, help="A model trained on the synthetic data.")
@click.option("--data", required=True, help="A synthetic split, e.g. valid.txt.")
@click.option("--layer", type=int, default=1, show_default=True, help="1-based layer whose states are probed.")
@click.option("--test-size", type=int, default=10_000, show_default=True, help="Last N positions test the LDA.")
@click.option("--k", type=int, default=5, show_default=True, help="Dimensions of the counting subspace.")
@click.option("--max-delay", type=int, default=0, show_default=True,
              help="Also project state gradients on the LDA subspaces for delays 0..N.")
@click.option("--basis", type=click.Choice(["normalised", "raw", "onehot"]), default="onehot", show_default=True,
              help="Gradients w.r.t. the one-hot input, G D (normalised), or G (with --max-delay).")
@click.option("--threads", type=int, default=1, show_default=True, help="torch/BLAS threads.")
@_OUT
def lda_cmd(model_path, data, layer, test_size, k, max_delay, basis, threads, out):
    """LDA on cell/hidden states of a model trained on synthetic-data: token id, new token and
    count within the cycle (Verwimp et al.'s LDA probes, their Table 1 layout)."""
    import torch

    from rnnscope.analysis.lda_probe import lda_table, synthetic_states
    from rnnscope.synthetic import read_lines

    torch.set_num_threads(threads)
    model, vocab = _load(model_path)
    comps = model.family.gradient_states  # LSTM: c then h; others: h
    lines = read_lines(data)
    states, labels = synthetic_states(model, vocab, lines, layer, comps)
    res = lda_table(states, labels, test_size, k, subspace_from=comps[0])
    click.echo(res.pivot.to_string())
    click.echo(f"\nfirst {k} counting directions carry {100 * res.explained:.1f}% of the LDA eigenvalues")
    _save(out, "lda_table", res.table)
    if max_delay:
        from rnnscope.analysis.memory_runs import lda_gradient_table

        wide = lda_gradient_table(model, vocab, states, labels, res, layer, max_delay, k, basis)
        click.echo("\nsum of singular values of projected gradient matrices, and LDA accuracy of the new token:")
        click.echo(wide.to_string(float_format="%.3g"))
        _save(out, "lda_gradients", wide.reset_index())


COMMANDS = [gradients_cmd, compare_cmd, synthetic_cmd, lda_cmd]
