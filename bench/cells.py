"""Benchmark: training speed of every cell family against ``nn.LSTM`` (run by hand, not in CI).

One training step (forward, loss, backward, Adam step) of a 1-layer LM (embedding and hidden
``--hidden``, vocabulary 10k, softmax output) on a batch of ``--batch`` x ``--bptt`` tokens,
for each family of :mod:`rnnscope.cells`. The peephole LSTM has no fused PyTorch kernel and
trains through its own step in a Python loop; this measures what that costs. Times are
interleaved (family order rotates every repeat) and the ratio to ``lstm`` is printed with the
best and the median of ``--repeats``.

    python bench/cells.py [--threads 1] [--repeats 5] [--hidden 256] [--batch 32] [--bptt 35]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnscope.cells import cell_names, get_cell
from rnnscope.model import ModelConfig, RecurrentLM


def step_time(model: RecurrentLM, opt: torch.optim.Optimizer, tokens: torch.Tensor) -> float:
    t0 = time.perf_counter()
    x, _ = model.forward_hidden(tokens[:, :-1])
    loss = model.loss(x, tokens[:, 1:])
    opt.zero_grad()
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--vocab", type=int, default=10_000)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tokens = torch.randint(0, args.vocab, (args.batch, args.bptt + 1))
    runs = {}
    for name in cell_names():
        proj = args.hidden // 4 if get_cell(name).projects else 0  # lstm_proj: h a quarter of c
        model = RecurrentLM(ModelConfig(vocab_size=args.vocab, cell=name, emb_dim=args.hidden,
                                        hidden_size=args.hidden, proj_size=proj)).train()
        runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3), [])
        step_time(model, runs[name][1], tokens)  # warm-up
    names = list(runs)
    for r in range(args.repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            model, opt, times = runs[name]
            times.append(step_time(model, opt, tokens))
    base_best, base_med = min(runs["lstm"][2]), statistics.median(runs["lstm"][2])
    print(f"training step, batch {args.batch} x bptt {args.bptt}, hidden {args.hidden}, "
          f"vocab {args.vocab:,}, {args.threads} thread(s), {args.repeats} repeats")
    print(f"{'cell':<15}{'best s':>9}{'median s':>10}{'best / lstm':>13}{'median / lstm':>15}")
    for name in names:
        t = runs[name][2]
        best, med = min(t), statistics.median(t)
        print(f"{name:<15}{best:>9.3f}{med:>10.3f}{best / base_best:>13.2f}{med / base_med:>15.2f}")


if __name__ == "__main__":
    main()
