"""Benchmark: state gradients by forward-mode tangents vs one ``autograd.grad`` per state unit.

Setting of issue 4: a 1-layer 256-unit LSTM with 64-dim embeddings, 2,000 start positions
(20 sequences of 100 tokens), delays tau <= 50, state ``layer1.c``. The per-unit reverse-mode
loop (one backward pass per target step and state unit, which yields every delay of that
target at once) is run on ONE sequence (100 x 256 = 25,600 backward passes) and its time is
extrapolated x20 to the full 2,000 positions; the printout says so. The maximum difference is
taken on that sequence (sums over its positions per delay, and every single Jacobian).

Run: ``/work/venv/bin/python bench/gradients.py`` (single-threaded; about 2-4 minutes).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from rnnscope.analysis.gradients import reverse_mode_gradients, state_gradient_sums
from rnnscope.model import ModelConfig, RecurrentLM


def main(n_seq: int = 20, length: int = 100, max_delay: int = 50, hidden: int = 256, emb: int = 64) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=1000, cell="lstm", emb_dim=emb, hidden_size=hidden)).eval()
    seqs = [torch.randint(0, 1000, (length,)) for _ in range(n_seq)]

    t0 = time.perf_counter()
    ours = state_gradient_sums(model, seqs, "layer1.c", max_delay, progress=False)
    t_ours = time.perf_counter() - t0
    print(f"forward-mode tangents: {n_seq * length} positions, tau<={max_delay}: {t_ours:.1f} s")

    # reference on one sequence, exact per-unit reverse-mode loop
    t0 = time.perf_counter()
    ref = reverse_mode_gradients(model, seqs[0], "layer1.c", list(range(length)), max_delay)
    t_ref1 = time.perf_counter() - t0
    t_ref = t_ref1 * n_seq
    print(f"per-unit reverse mode: 1 sequence ({length * hidden} autograd.grad calls) {t_ref1:.1f} s; "
          f"extrapolated x{n_seq} to {n_seq * length} positions: {t_ref:.0f} s ({t_ref / 60:.1f} min)")

    one = state_gradient_sums(model, [seqs[0]], "layer1.c", max_delay, progress=False)
    ref_sum = np.nansum(ref, axis=0)  # [T+1, H, E]
    diff_sum = np.abs(one.all_sum - ref_sum).max()
    # single Jacobians: label each position as its own group (100 groups)
    lab = [list(range(length))]
    each = state_gradient_sums(model, [seqs[0]], "layer1.c", max_delay, lab, progress=False)
    diff_each = 0.0
    for t in range(length):
        s, c = each.groups[t]
        ok = c > 0
        diff_each = max(diff_each, float(np.abs(s[ok] - ref[t][ok]).max()))
    print(f"max |difference|: per-delay sums {diff_sum:.2e}, single Jacobians {diff_each:.2e} "
          f"(max |G| {np.nanmax(np.abs(ref)):.2e}; float32)")
    print(f"speed-up: {t_ref / t_ours:.0f}x (goal >= 50x)")


if __name__ == "__main__":
    main()
