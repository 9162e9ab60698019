"""Benchmark: our sparse (L1) softmax probe vs NeuroX's ``train_logistic_regression_probe``.

Same data for both: 20k tokens x 650 units, 10 classes (Zipf-like frequencies), each class
carried by a few units on top of correlated noise, squashed by tanh like LSTM activations;
standardised; a seeded 90/10 split. NeuroX trains a torch linear layer with Adam, mini-batches
of 32, 10 epochs, loss = mean cross-entropy + l1 * ||W||_1 + l2 * ||W||_2^2 (its defaults
except the penalties, set to the usual 0.001 / 0.001). Ours minimises the same L1 objective
(C = 1 / (l1 * n_train)) with full-batch FISTA, which gives exact zeros.

NeuroX's pinned requirements do not resolve on current Python, so it lives in its own venv::

    python -m venv /work/bench-venv
    /work/bench-venv/bin/pip install torch==2.13.0
    /work/bench-venv/bin/pip install --no-deps neurox
    /work/bench-venv/bin/pip install numpy scipy scikit-learn tqdm imbalanced-learn

and this script runs it in a subprocess of that interpreter (``--neurox-python``).

Run: ``/work/venv/bin/python bench/probe.py [--threads 1] [--sklearn]``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NEUROX_SCRIPT = r"""
import json, sys, time, io, contextlib
import numpy as np, torch
torch.set_num_threads(int(sys.argv[2]))
from neurox.interpretation import linear_probe as lp
d = np.load(sys.argv[1])
Xtr, ytr, Xte, yte = d["Xtr"], d["ytr"], d["Xte"], d["yte"]
l1, l2 = float(sys.argv[3]), float(sys.argv[4])
torch.manual_seed(0)
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    t = time.perf_counter()
    probe = lp.train_logistic_regression_probe(Xtr, ytr, lambda_l1=l1, lambda_l2=l2)
    seconds = time.perf_counter() - t
    acc = lp.evaluate_probe(probe, Xte, yte)["__OVERALL__"]
W = list(probe.parameters())[0].detach().numpy()
print(json.dumps({"seconds": seconds, "accuracy": float(acc), "zeros": int((W == 0).sum()),
                  "near_zero": int((np.abs(W) < 1e-4).sum()), "weights": int(W.size)}))
"""


def make_data(n: int = 20000, d: int = 650, k: int = 10, seed: int = 0):
    """Probe-like data: a few informative units per class, correlated noise, tanh squashing."""
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, k + 1)
    y = rng.choice(k, size=n, p=freq / freq.sum())
    means = np.zeros((k, d))
    for c in range(k):
        means[c, rng.choice(d, 12, replace=False)] = rng.normal(0, 0.8, 12)
    factors = rng.normal(size=(n, 30)) @ rng.normal(0, 0.3, (30, d))
    X = np.tanh(means[y] + factors + rng.normal(0, 0.7, (n, d))).astype(np.float32)
    test = np.zeros(n, dtype=bool)
    test[rng.permutation(n)[: n // 10]] = True
    mu, sd = X[~test].mean(0), X[~test].std(0)
    X = (X - mu) / sd
    return X[~test], y[~test], X[test], y[test]


def run_ours(Xtr, ytr, Xte, yte, l1: float) -> dict:
    from rnnscope.analysis.sparse_logreg import LinearProbe

    t = time.perf_counter()
    probe = LinearProbe(C=1.0 / (l1 * len(ytr)), penalty="l1").fit(Xtr, ytr)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "accuracy": probe.score(Xte, yte), "zeros": probe.n_zero_,
            "near_zero": int((np.abs(probe.coef_) < 1e-4).sum()), "weights": probe.coef_.size,
            "iterations": probe.n_iter_}


def run_sklearn(Xtr, ytr, Xte, yte, l1: float) -> dict:
    import warnings

    from sklearn.linear_model import LogisticRegression

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = LogisticRegression(C=1.0 / (l1 * len(ytr)), l1_ratio=1.0, solver="saga", tol=1e-3,
                               max_iter=200).fit(Xtr, ytr)
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "accuracy": m.score(Xte, yte), "zeros": int((m.coef_ == 0).sum()),
            "near_zero": int((np.abs(m.coef_) < 1e-4).sum()), "weights": m.coef_.size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--neurox-python", default="/work/bench-venv/bin/python")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--l1", type=float, default=1e-3)
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--d", type=int, default=650)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--sklearn", action="store_true", help="Also time sklearn's saga.")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    Xtr, ytr, Xte, yte = make_data(args.n, args.d, args.classes)
    print(f"data: {len(ytr)} train / {len(yte)} test tokens x {args.d} units, "
          f"{args.classes} classes, majority {np.bincount(yte).max() / len(yte):.3f}")
    results = {"rnnscope (FISTA, L1)": run_ours(Xtr, ytr, Xte, yte, args.l1)}
    if args.sklearn:
        results["sklearn saga (L1)"] = run_sklearn(Xtr, ytr, Xte, yte, args.l1)
    if Path(args.neurox_python).exists():
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "data.npz")
            np.savez(data, Xtr=Xtr, ytr=ytr, Xte=Xte, yte=yte)
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            out = subprocess.run([args.neurox_python, "-c", NEUROX_SCRIPT, data, str(args.threads),
                                  str(args.l1), str(args.l2)], capture_output=True, text=True,
                                 env=env)
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                sys.exit("NeuroX run failed")
            results["NeuroX (Adam, L1+L2)"] = json.loads(out.stdout.strip().splitlines()[-1])
    else:
        print(f"NeuroX interpreter {args.neurox_python} not found: skipping it")
    print(f"{'method':24s} {'seconds':>8s} {'accuracy':>9s} {'exact zeros':>12s} {'|w|<1e-4':>9s}")
    for name, r in results.items():
        print(f"{name:24s} {r['seconds']:8.2f} {r['accuracy']:9.4f} "
              f"{r['zeros']:6d}/{r['weights']:<5d} {r['near_zero']:9d}")
    if "NeuroX (Adam, L1+L2)" in results:
        ratio = results["NeuroX (Adam, L1+L2)"]["seconds"] / results["rnnscope (FISTA, L1)"]["seconds"]
        print(f"time ratio NeuroX / ours: {ratio:.2f}x")


if __name__ == "__main__":
    main()
