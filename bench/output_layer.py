"""Training throughput of the two output layers on a 31k-word vocabulary (run by hand).

Baseline: the tied full softmax (``nn.Linear`` decoder sharing the embedding). Candidate: the
adaptive softmax (``--output adaptive``, cutoffs 2000,10000). Same 2x256 LSTM, batch 64, BPTT
35, Adam, 2 threads; targets drawn from a Zipf law like word frequencies. Prints tokens/s of
each (best and median of interleaved repeats) and the ratio.

    python bench/output_layer.py [--repeats 3] [--steps 8]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnscope.model import ModelConfig, RecurrentLM


def tokens_per_second(output: str, vocab: int, hidden: int, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=vocab, emb_dim=hidden, hidden_size=hidden, num_layers=2,
                      dropout=0.3, tie_weights=output == "softmax", output=output)
    model = RecurrentLM(cfg).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    ranks = torch.arange(1, vocab + 1, dtype=torch.float64)
    zipf = (1.0 / ranks) / (1.0 / ranks).sum()
    x = torch.multinomial(zipf, batch * 35, replacement=True).view(batch, 35)
    y = torch.multinomial(zipf, batch * 35, replacement=True).view(batch, 35)
    start = None
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        opt.zero_grad()
        top, _ = model.forward_hidden(x)
        model.loss(top, y).backward()
        opt.step()
    return batch * 35 * steps / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=30984)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs: dict[str, list[float]] = {"softmax": [], "adaptive": []}
    for _ in range(args.repeats):  # interleaved
        for name in runs:
            runs[name].append(tokens_per_second(name, args.vocab, 256, 64, args.steps))
    for name, vals in runs.items():
        print(f"{name:9s} tokens/s  best {max(vals):8,.0f}  median {statistics.median(vals):8,.0f}")
    print(f"adaptive / tied full softmax: best {max(runs['adaptive']) / max(runs['softmax']):.2f}x, "
          f"median {statistics.median(runs['adaptive']) / statistics.median(runs['softmax']):.2f}x")


if __name__ == "__main__":
    main()
