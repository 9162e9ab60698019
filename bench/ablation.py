"""Benchmark: full single-unit ablation sweep, batched vs the research-code loop.

Model: a randomly initialised 2 x 650 LSTM word LM (embedding 650, vocabulary 50,000 by
default: the Gulordava et al. shape). Items: the seven NA tasks x their 18 conditions with
``--n`` sentences per condition. Every unit of both layers is ablated (h held at 0 = outgoing
weights zeroed) and all items are scored.

* **batched** (:func:`rnnscope.agreement.ablation_sweep`): one (unit, sentence) pair per batch
  row, only the correct-minus-wrong verb logit, lower layers run once for top-layer units;
* **research loop** (the original code's shape): for each unit, zero its outgoing weights in
  place (then restore them), then one forward pass per sentence
  (batch 1) through the fused LSTM and the full softmax over the vocabulary, compare
  ``log P(correct)`` and ``log P(wrong)`` at the last prefix position.

The research loop is too slow to run on every unit: it runs on ``--slow-units`` units per
layer and its total time is extrapolated linearly to all units (every unit costs the same:
same sentences, same shapes). Decisions of both paths are compared on those units.

    python bench/ablation.py                 # default: n=2 per condition (36 sentences)
    python bench/ablation.py --n 4 --slow-units 8
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from rnnscope.agreement import ablation_sweep, generate, load_wordpools
from rnnscope.agreement.batched import encode_items
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary


def build(vocab_size: int, hidden: int, seed: int) -> tuple[RecurrentLM, Vocabulary]:
    pools = load_wordpools()
    words = ["The", "the", "and"]
    for k in ("nouns", "verbs", "location_nouns"):
        words += [w for pair in pools[k] for w in pair]
    for k in ("adverbs", "adverb_modifiers", "prepositions", "names"):
        words += pools[k]
    words = list(dict.fromkeys(words))
    words += [f"w{i}" for i in range(vocab_size - len(words) - 2)]
    vocab = Vocabulary("word", words)
    torch.manual_seed(seed)
    model = RecurrentLM(ModelConfig(vocab_size=len(vocab), emb_dim=hidden, hidden_size=hidden,
                                    num_layers=2)).eval()
    return model, vocab


@torch.no_grad()
def research_loop(model: RecurrentLM, vocab: Vocabulary, items, units) -> tuple[np.ndarray, float, float]:
    """log P(correct) - log P(wrong) per (unit, item), one forward per unit and sentence."""
    enc = encode_items(items, vocab)
    out = np.empty((len(units), len(enc.items)), dtype=np.float32)
    start, cpu = time.perf_counter(), time.process_time()
    for a, (layer, unit) in enumerate(units):
        # zero the outgoing weights in place and restore them afterwards, as the research code
        # did (what ablate_outgoing does on a copy; the copy itself is not timed here)
        nxt = model.layers[layer].weight_ih_l0 if layer < model.config.num_layers else model.decoder.weight
        rec = model.layers[layer - 1].weight_hh_l0
        saved = nxt[:, unit].clone(), rec[:, unit].clone()
        nxt[:, unit], rec[:, unit] = 0.0, 0.0
        for i, (tok, c, w) in enumerate(enc.ids):
            logits, _ = model(torch.tensor([tok]))  # every position, full vocabulary
            logp = torch.log_softmax(logits[0, -1], dim=-1)
            out[a, i] = float(logp[c] - logp[w])
        nxt[:, unit], rec[:, unit] = saved
    return out, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2, help="sentences per condition")
    ap.add_argument("--hidden", type=int, default=650)
    ap.add_argument("--vocab", type=int, default=50000)
    ap.add_argument("--slow-units", type=int, default=3, help="units per layer for the research loop")
    ap.add_argument("--max-rows", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, vocab = build(args.vocab, args.hidden, args.seed)
    items = generate(n=args.n, seed=args.seed)
    tokens = sum(len(it.prefix) + 1 for it in items)
    n_units = 2 * args.hidden
    print(f"model 2x{args.hidden}, vocab {len(vocab)}; {len(items)} items "
          f"({tokens} tokens incl. <eos>) x {n_units} units")

    start, cpu = time.perf_counter(), time.process_time()
    sweep = ablation_sweep(model, vocab, items, mode="outgoing", max_rows=args.max_rows, progress=False)
    t_fast, c_fast = time.perf_counter() - start, time.process_time() - cpu
    print(f"batched sweep: {t_fast:.1f} s wall, {c_fast:.1f} s CPU for all {n_units} units "
          f"({n_units * tokens / t_fast:,.0f} ablated tokens/s wall)")

    rng = np.random.default_rng(args.seed)
    units = [(layer, int(u)) for layer in (1, 2)
             for u in rng.choice(args.hidden, args.slow_units, replace=False)]
    slow, t_slow, c_slow = research_loop(model, vocab, items, units)
    per_unit = t_slow / len(units)
    t_slow_all = per_unit * n_units
    c_slow_all = c_slow / len(units) * n_units
    print(f"research loop: {t_slow:.1f} s wall, {c_slow:.1f} s CPU for {len(units)} units -> "
          f"{per_unit:.2f} s/unit, extrapolated {t_slow_all:.0f} s wall, {c_slow_all:.0f} s CPU "
          f"for all {n_units} units")

    rows = [int(np.flatnonzero((sweep.units["layer"] == layer) & (sweep.units["unit"] == u))[0])
            for layer, u in units]
    fast = sweep.diffs[rows]
    same = np.array_equal(fast > 0, slow > 0)
    max_abs = float(np.abs(fast - slow).max())
    print(f"decisions identical on the {len(units)} compared units x {fast.shape[1]} items: {same}; "
          f"max |difference| of log-prob differences {max_abs:.2e}")
    print(f"speed-up: {t_slow_all / t_fast:.1f}x wall, {c_slow_all / c_fast:.1f}x CPU")
    print(json.dumps({"n_per_condition": args.n, "items": len(items), "units": n_units,
                      "hidden": args.hidden, "vocab": len(vocab), "batched_s": round(t_fast, 2),
                      "research_s_measured": round(t_slow, 2), "research_units_measured": len(units),
                      "research_s_extrapolated": round(t_slow_all, 1),
                      "speedup": round(t_slow_all / t_fast, 1), "batched_cpu_s": round(c_fast, 2),
                      "research_cpu_s_extrapolated": round(c_slow_all, 1),
                      "speedup_cpu": round(c_slow_all / c_fast, 1), "decisions_identical": same,
                      "max_abs_diff": max_abs, "threads": args.threads}))


if __name__ == "__main__":
    main()
