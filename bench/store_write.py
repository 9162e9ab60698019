"""Benchmark: writing an extraction's worth of activations into a new store vs plain files
(run by hand, not in CI).

Writes ``--keys`` components of ``--rows`` x ``--units`` (float16 by default) into a fresh
store with :class:`rnnscope.store.StoreWriter`, in chunks of 4096 rows as extraction does, and
the same bytes with ``numpy.ndarray.tofile`` into fresh plain files (the operating system's
floor for new data on this disk), interleaved ``--repeats`` times; prints wall and CPU seconds
(best and median), MB/s, and the ratio store / plain files.

Usage: ``python bench/store_write.py [--rows 20020] [--units 650] [--keys 12] [--dtype float16]``
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from rnnscope.store import StoreWriter


def store(folder: str, values: np.ndarray, keys: list[str]) -> None:
    w = StoreWriter.create(folder, len(values), keys, values.shape[1], dtype=str(values.dtype),
                           chunk_rows=4096)
    for start in range(0, len(values), 4096):
        for k in keys:
            w.write(k, start, values[start:start + 4096])


def plain(folder: str, values: np.ndarray, keys: list[str]) -> None:
    os.makedirs(folder)
    for start in range(0, len(values), 4096):
        for k in keys:
            values[start:start + 4096].tofile(f"{folder}/{k}.{start}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=20020)
    ap.add_argument("--units", type=int, default=650)
    ap.add_argument("--keys", type=int, default=12)
    ap.add_argument("--dtype", default="float16")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    values = np.random.default_rng(0).normal(size=(args.rows, args.units)).astype(args.dtype)
    keys = [f"layer{1 + i // 6}.{'hcifog'[i % 6]}" for i in range(args.keys)]
    mb = values.nbytes * len(keys) / 1e6
    runs = {"store": store, "plain files": plain}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name, fn in runs.items():
                t, c = time.perf_counter(), time.process_time()
                fn(f"{tmp}/{name.replace(' ', '_')}{r}", values, keys)
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
    print(f"{len(keys)} keys x {args.rows} rows x {args.units} units {args.dtype} = {mb:.0f} MB "
          f"into new folders, 4096-row pieces, {args.repeats} interleaved repeats")
    for name in runs:
        print(f"{name:12s} wall {min(wall[name]):.3f} s best, {statistics.median(wall[name]):.3f} "
              f"median ({mb / min(wall[name]):.0f} MB/s best); CPU {min(cpu[name]):.3f} s best, "
              f"{statistics.median(cpu[name]):.3f} median")
    s, p = "store", "plain files"
    print(f"store / plain files: wall {min(wall[s]) / min(wall[p]):.2f}x best-of, "
          f"{statistics.median(wall[s]) / statistics.median(wall[p]):.2f}x medians; "
          f"CPU {min(cpu[s]) / min(cpu[p]):.2f}x best-of")


if __name__ == "__main__":
    main()
