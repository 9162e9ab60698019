"""Benchmark: state gradients by forward-mode tangents vs one ``autograd.grad`` per state unit.

Setting of issue 4: a 1-layer 256-unit LSTM with 64-dim embeddings, 2,000 start positions
(20 sequences of 100 tokens), delays tau <= 50, state ``layer1.c``. The per-unit reverse-mode
loop (one backward pass per target step and state unit, which yields every delay of that
target at once) is run on every 10th target step of ONE sequence (10 x 256 = 2,560 backward
passes) and its time per call is extrapolated to the 20 x 100 x 256 = 512,000 calls the full
2,000 positions need; the printout says so. The maximum difference is over every single
Jacobian ``G[t, tau]`` the reference computed.

Times are CPU seconds of this single-threaded process (``time.process_time``), so they do not
depend on other load on the machine; wall times are printed too.

Run: ``/work/venv/bin/python bench/gradients.py`` (single-threaded; a few minutes).
"""
from __future__ import annotations

import time

import numpy as np
import torch

from rnnscope.analysis.gradients import reverse_mode_gradients, state_gradient_sums
from rnnscope.model import ModelConfig, RecurrentLM


def main(n_seq: int = 20, length: int = 100, max_delay: int = 50, hidden: int = 256, emb: int = 64,
         every: int = 10) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=1000, cell="lstm", emb_dim=emb, hidden_size=hidden)).eval()
    seqs = [torch.randint(0, 1000, (length,)) for _ in range(n_seq)]

    w0, t0 = time.perf_counter(), time.process_time()
    state_gradient_sums(model, seqs, "layer1.c", max_delay, progress=False)
    t_ours, w_ours = time.process_time() - t0, time.perf_counter() - w0
    print(f"forward-mode tangents: {n_seq * length} positions, tau<={max_delay}: "
          f"{t_ours:.1f} s CPU ({w_ours:.1f} s wall)")

    # reference on one sequence, exact per-unit reverse-mode loop, on every `every`-th target step
    targets = list(range(0, length, every))
    w0, t0 = time.perf_counter(), time.process_time()
    ref = reverse_mode_gradients(model, seqs[0], "layer1.c", list(range(length)), max_delay, targets)
    t_sub, w_sub = time.process_time() - t0, time.perf_counter() - w0
    calls = len(targets) * hidden
    t_ref = t_sub / calls * (n_seq * length * hidden)
    print(f"per-unit reverse mode: {calls} autograd.grad calls ({len(targets)} target steps x {hidden} units "
          f"of one sequence) {t_sub:.1f} s CPU ({w_sub:.1f} s wall); EXTRAPOLATED to the "
          f"{n_seq * length * hidden} calls of {n_seq * length} positions: {t_ref:.0f} s ({t_ref / 60:.1f} min)")

    # single Jacobians: label each position as its own group (100 groups)
    lab = [list(range(length))]
    each = state_gradient_sums(model, [seqs[0]], "layer1.c", max_delay, lab, progress=False)
    diff_each = 0.0
    for t in range(length):
        s, c = each.groups[t]
        ok = (c > 0) & np.isfinite(ref[t][:, 0, 0])
        if ok.any():
            diff_each = max(diff_each, float(np.abs(s[ok] - ref[t][ok]).max()))
    print(f"max |difference| over the {int(np.isfinite(ref[:, :, 0, 0]).sum())} single Jacobians G[t, tau] "
          f"the reference computed: {diff_each:.2e} "
          f"(max |G| {np.nanmax(np.abs(ref)):.2e}; float32)")
    print(f"speed-up: {t_ref / t_ours:.0f}x (goal >= 50x)")


if __name__ == "__main__":
    main()
