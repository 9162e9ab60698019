"""Benchmark: recording every LSTM component vs the bare fused forward (run by hand, not in CI).

A 2-layer 650-unit LSTM (embedding 650, vocabulary 10k, random weights) reads 20k tokens in
batches of 64 sentences (one sentence per batch row by default; ``--sentence-len L`` cuts the
tokens into sentences of L words, as real corpora come, so extraction runs several windows and
its background writes overlap the next window's compute). We time, in one run and
interleaved (best of ``--repeats``):

* ``bare``     — the fused ``nn.LSTM`` layers only (no decoder), the physical floor;
                 timed with oneDNN on and off, and the faster of the two is the baseline;
* ``ours``     — ``model.run_with_states(compute_logits=False)``: h c i f o g of both layers;
* ``recompute``— the previous scheme (fused pass, then all gates recomputed in one matmul);
* ``cell_loop``— a Python loop over ``nn.LSTMCell`` computing every gate explicitly;
* ``extract``  — the whole :func:`rnnscope.extract.extract` into a float16 and a float32 store
                 (alignment, token table and writes included).

Usage: ``python bench/extract.py [--threads 1] [--repeats 3] [--tokens 20000] [--sentence-len 25]``
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch import nn

from rnnscope.model import ModelConfig, RecurrentLM


def bare(model: RecurrentLM, batches: list[torch.Tensor]) -> None:
    for tokens in batches:
        x = model.embed(tokens)
        for layer in model.layers:
            x, _ = layer(x)


def ours(model: RecurrentLM, batches: list[torch.Tensor]) -> None:
    for tokens in batches:
        model.run_with_states(tokens, compute_logits=False)


def recompute(model: RecurrentLM, tokens: torch.Tensor) -> None:
    """The fused pass followed by one big matmul per layer for every gate (previous scheme)."""
    x = model.embed(tokens)
    for layer, hx in zip(model.layers, model.init_state(tokens.shape[0])):
        out, _ = layer(x, hx)
        model.family.record(layer, x, out, hx, ["h", "c", "i", "f", "o", "g"])
        x = out


def cell_loop(model: RecurrentLM, tokens: torch.Tensor) -> None:
    """A Python loop over ``nn.LSTMCell`` with the same weights, every gate computed."""
    x = model.embed(tokens)
    B, T, _ = x.shape
    for layer in model.layers:
        H = layer.hidden_size
        cell = _as_cell(layer)
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        outs = {k: [] for k in "hcifgo"}
        for t in range(T):
            pre = torch.nn.functional.linear(x[:, t], cell.weight_ih, cell.bias_ih) + \
                torch.nn.functional.linear(h, cell.weight_hh, cell.bias_hh)
            i, f, g, o = pre.chunk(4, dim=1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = f * c + i * g
            h = o * torch.tanh(c)
            for k, v in zip("hcifgo", (h, c, i, f, g, o)):
                outs[k].append(v)
        x = torch.stack(outs["h"], dim=1)
        _ = {k: torch.stack(v, dim=1) for k, v in outs.items()}


_CELLS: dict[int, nn.LSTMCell] = {}


def _as_cell(layer: nn.LSTM) -> nn.LSTMCell:
    if id(layer) not in _CELLS:
        cell = nn.LSTMCell(layer.input_size, layer.hidden_size)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(layer, f"{name}_l0"))
        _CELLS[id(layer)] = cell
    return _CELLS[id(layer)]


def full_extract(model, batch, vocab, corpus, dtype="float16") -> None:
    from rnnscope.extract import extract

    with tempfile.TemporaryDirectory() as tmp:
        extract(model, vocab, corpus, f"{tmp}/s", batch_size=batch, dtype=dtype, progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--skip-cell-loop", action="store_true")
    ap.add_argument("--sentence-len", type=int, default=0,
                    help="words per sentence (0: one sentence per batch row)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=10000, emb_dim=650, hidden_size=650,
                                    num_layers=2)).eval()
    T = args.sentence_len + 1 if args.sentence_len else -(-args.tokens // args.batch)
    rows = -(-args.tokens // T)
    tokens = torch.randint(0, 10000, (rows, T))  # one sentence per row: <eos> + T-1 words
    batches = list(tokens.split(args.batch))
    n = tokens.numel()

    from rnnscope.corpus.types import Corpus, Sentence
    from rnnscope.vocab import Vocabulary

    vocab = Vocabulary("word", [f"w{i}" for i in range(9998)])
    # the same tokens as sentences of T-1 words (extract prepends <eos> to every sentence)
    corpus = Corpus([Sentence([vocab.itos[i] for i in row[1:].tolist()]) for row in tokens],
                    name="bench")

    runs = {
        "bare (oneDNN on)": (lambda: bare(model, batches), True),
        "bare (oneDNN off)": (lambda: bare(model, batches), False),
        "ours: run_with_states": (lambda: ours(model, batches), False),
        "recompute (old scheme)": (lambda: [recompute(model, b) for b in batches], False),
        "extract() to float16 store": (lambda: full_extract(model, args.batch, vocab, corpus), False),
        "extract() to float32 store": (lambda: full_extract(model, args.batch, vocab, corpus,
                                                            "float32"), False),
    }
    if not args.skip_cell_loop:
        runs["LSTMCell python loop"] = (lambda: [cell_loop(model, b) for b in batches], False)
    times: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}  # process CPU time (all threads)
    with torch.inference_mode():
        for name, (fn, onednn) in runs.items():  # warm-up
            torch.backends.mkldnn.enabled = onednn
            fn()
        for _ in range(args.repeats):
            for name, (fn, onednn) in runs.items():
                torch.backends.mkldnn.enabled = onednn
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    torch.backends.mkldnn.enabled = True

    base = min(min(times["bare (oneDNN on)"]), min(times["bare (oneDNN off)"]))
    base_med = min(statistics.median(times["bare (oneDNN on)"]),
                   statistics.median(times["bare (oneDNN off)"]))
    print(f"2x650 LSTM, vocab 10k, {n} tokens in {rows} sentences of {T - 1} words, batch "
          f"{args.batch}, threads {args.threads}, best of {args.repeats}")
    print(f"{'path':30s} {'best s':>8s} {'median s':>9s} {'tok/s':>8s} {'x bare':>7s} "
          f"{'x bare (medians)':>16s}")
    for name, ts in times.items():
        best, med = min(ts), statistics.median(ts)
        print(f"{name:30s} {best:8.3f} {med:9.3f} {n / best:8.0f} {best / base:7.2f} "
              f"{med / base_med:16.2f}")
    ours_t = min(times["ours: run_with_states"])
    ours_med = statistics.median(times["ours: run_with_states"])
    print(f"\nall components / bare forward: {ours_t / base:.2f}x best-of, "
          f"{ours_med / base_med:.2f}x medians (goal <= 1.25x)")
    for dtype in ("float16", "float32"):
        ts = times[f"extract() to {dtype} store"]
        print(f"extract to a {dtype} store / bare forward: {min(ts) / base:.2f}x best-of, "
              f"{statistics.median(ts) / base_med:.2f}x medians (goal <= 1.25x)")
    bare_cpu = min(min(cpu["bare (oneDNN on)"]), min(cpu["bare (oneDNN off)"]))
    bare_cpu_med = min(statistics.median(cpu["bare (oneDNN on)"]),
                       statistics.median(cpu["bare (oneDNN off)"]))
    print("\nCPU time (process, all threads: the store writer's too)")
    for name in ("ours: run_with_states", "extract() to float16 store",
                 "extract() to float32 store"):
        cs = cpu[name]
        print(f"{name:30s} {min(cs):7.3f} s best, {min(cs) / bare_cpu:.2f}x bare best-of, "
              f"{statistics.median(cs) / bare_cpu_med:.2f}x medians")
    if "LSTMCell python loop" in times:
        print(f"all components / LSTMCell loop: {ours_t / min(times['LSTMCell python loop']):.2f}x")


if __name__ == "__main__":
    main()
