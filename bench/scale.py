"""Benchmark: sharded extraction on 1 vs 2 local Dask workers, and the cost of 100M tokens.

Run by hand (not in CI): ``python bench/scale.py [--tokens 60000] [--hidden 256] [--layers 2]``.

A randomly initialised word LSTM (vocabulary from the PTB validation text when
``../shared/data`` is present, else generated sentences) extracts every component (h c i f o g
of every layer, float16) of the first ``--tokens`` tokens into a store, three ways:

* ``single``   — :func:`rnnscope.extract.extract` in this process with one torch thread;
* ``1 worker`` — :func:`rnnscope.distributed.extract.extract_distributed` on a
                 ``LocalCluster`` of one worker process (one thread);
* ``2 workers``— the same with two worker processes.

Cluster start-up is not timed (a warm-up extraction loads the model in every worker first);
everything else is (planning, shipping shards, writing, finalizing). Throughput is tokens/s
of wall time, best of ``--repeats``. On a 2-core machine 2 workers cannot reach 2x: they
share the cores with the client, the scheduler, the nannies and, here, other users.

The paper estimate at the end takes the measured single-process and 2-worker rates to
100M tokens of a 2x650 LSTM: values per pass, bytes in float16/float32 and hours.
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.extract import extract
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary

PTB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ptb" / "ptb.valid.txt.gz"


def corpus_of(tokens: int) -> tuple[Corpus, Vocabulary, str]:
    """The first ``tokens`` words of PTB valid (or generated sentences) and a vocabulary."""
    if PTB.exists():
        lines = gzip.open(PTB, "rt", encoding="utf-8").read().splitlines()
        source = f"PTB valid ({PTB})"
    else:
        rng = np.random.default_rng(0)
        words = [f"w{i}" for i in range(2000)]
        lines = [" ".join(rng.choice(words, int(rng.integers(5, 40)))) for _ in range(20000)]
        source = "generated sentences (shared data not found)"
    sentences, total = [], 0
    for line in lines:
        words = line.split()
        if not words:
            continue
        sentences.append(Sentence(words[: tokens - total]))
        total += len(sentences[-1])
        if total >= tokens:
            break
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in sentences], max_size=10_000)
    return Corpus(sentences, "bench"), vocab, source


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def sweep_bench(hidden: int, repeats: int) -> None:
    """Single-unit ablation sweep (mode h, 2 layers) of a random word LSTM on the NA tasks."""
    from rnnscope.agreement import ablation_sweep, generate
    from rnnscope.distributed.ablate import ablation_sweep_distributed
    from rnnscope.distributed.cluster import connect

    items = generate(None, n=20, seed=0)
    words = sorted({w for it in items for w in (*it.prefix, it.correct, it.wrong)})
    vocab = Vocabulary("word", words)
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=len(vocab), emb_dim=hidden, hidden_size=hidden,
                                    num_layers=2)).eval()
    units = 2 * hidden
    print(f"\nablation sweep: 2x{hidden} LSTM, {units} units, {len(items)} NA items, mode h")
    rows = [("single process", timed(lambda: ablation_sweep(model, vocab, items, progress=False),
                                     repeats))]
    for workers in (1, 2):
        with connect(workers=workers) as client:
            run = lambda: ablation_sweep_distributed(model, vocab, items, client=client,  # noqa: E731
                                                     progress=False)
            run()  # warm-up: model and engine built once per worker
            rows.append((f"{workers} worker{'s' * (workers > 1)}", timed(run, repeats)))
    print(f"{'':16s} {'seconds':>8s} {'units/s':>10s} {'vs 1 worker':>12s}")
    for name, t in rows:
        print(f"{name:16s} {t:8.2f} {units / t:10,.1f} {rows[1][1] / t:11.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=60_000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--chunk-rows", type=int, default=1024)
    ap.add_argument("--sweep-hidden", type=int, default=64,
                    help="also time an ablation sweep of a 2xN model (0 = skip)")
    ap.add_argument("--shard-rows", type=int, default=None,
                    help="rows per shard (default: at least 8 windows and 16 chunks)")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from rnnscope.distributed.cluster import connect
    from rnnscope.distributed.extract import extract_distributed

    corpus, vocab, source = corpus_of(args.tokens)
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=len(vocab), emb_dim=args.hidden,
                                    hidden_size=args.hidden, num_layers=args.layers)).eval()
    n_tokens = corpus.n_words
    tmp = Path(tempfile.mkdtemp(prefix="rnnscope-scale-"))
    print(f"{args.layers}x{args.hidden} LSTM, all components, float16 store; {n_tokens:,} tokens "
          f"of {source}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    ckpt = tmp / "model"
    from rnnscope.checkpoint import save_model

    save_model(model, vocab, ckpt)
    rows = []
    counter = iter(range(10**6))

    def out() -> Path:
        p = tmp / f"s{next(counter)}"
        shutil.rmtree(p, ignore_errors=True)
        return p

    opts = dict(batch_size=args.batch_size, chunk_rows=args.chunk_rows, progress=False)
    t = timed(lambda: extract(model, vocab, corpus, out(), **opts), args.repeats)
    rows.append(("single process", t, None))
    for workers in (1, 2):
        with connect(workers=workers) as client:
            def run(c=corpus):
                _, r = extract_distributed(str(ckpt), vocab, c, out(), client=client,
                                           shard_rows=args.shard_rows, **opts)
                return r

            warm = Corpus(corpus.sentences[:200], "warm-up")
            client.run(lambda: None)
            for _ in range(workers):  # every worker imports torch and loads the model once
                run(warm)
            runs = []
            t = timed(lambda: runs.append(run()), args.repeats)
            rows.append((f"{workers} worker{'s' * (workers > 1)}", t, runs[-1]))
    print(f"\n{'':16s} {'seconds':>8s} {'tokens/s':>10s} {'vs 1 worker':>12s}")
    base = rows[1][1]
    for name, t, _ in rows:
        print(f"{name:16s} {t:8.2f} {n_tokens / t:10,.0f} {base / t:11.2f}x")
    for name, _, r in rows[1:]:
        print(f"\n{name}: {len(r.reports)} shards, per-worker busy throughput:")
        print(r.summary())

    if args.sweep_hidden:
        sweep_bench(args.sweep_hidden, args.repeats)

    # -- paper estimate: 100M tokens through a 2x650 LSTM ------------------------------------
    tokens, layers, hidden, comps = 100e6, 2, 650, 6
    values = tokens * layers * comps * hidden
    print(f"\n100M tokens, 2x650 LSTM, all 6 components: {values / 1e9:,.0f} G values per pass, "
          f"{values * 2 / 1e12:,.2f} TB in float16, {values * 4 / 1e12:,.2f} TB in float32")
    # LSTM cost per token ~ layers x 4H(E+H) multiply-adds (E = H here): scale measured rates
    flops = lambda n_layers, h: n_layers * 4 * h * (h + h)  # noqa: E731
    scale = flops(args.layers, args.hidden) / flops(layers, hidden)
    if scale != 1:
        print(f"  (rates measured at {args.layers}x{args.hidden}, divided by {1 / scale:.2f} = the "
              "ratio of multiply-adds per token; store writes grow only with H, so this is pessimistic)")
    per_worker = n_tokens / rows[1][1] * scale
    for name, rate in (("single process", n_tokens / rows[0][1] * scale),
                       ("2 local workers", n_tokens / rows[2][1] * scale),
                       ("64 workers at the 1-worker rate (ideal)", 64 * per_worker)):
        print(f"  {name:40s} {rate:10,.0f} tokens/s -> {tokens / rate / 3600:8,.1f} h")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
