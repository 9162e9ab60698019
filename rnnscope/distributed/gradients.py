"""Sharded state gradients: running sums per shard of sequences, added up on the client.

:func:`rnnscope.analysis.gradients.state_gradient_sums` sums Jacobians per delay over all
positions (and per label group). Sums over disjoint sets of sequences add up, so each shard
here runs the single-process function on a contiguous range of sequences and returns its sums
(per delay, for ``all`` and for every group); the client adds them and then applies
``finalize`` per group exactly as the single-process code does. The result equals the
single-process one up to floating-point summation order (use a float64 model copy to compare
tightly). :func:`memory_distributed` is :func:`rnnscope.analysis.memory.memory` on top of it.

Memory: a shard returns ``(groups + 1) x (T+1) x H x E`` float64 sums; with thousands of
groups (``--group-by word``) use few, large shards or the single-process path, which finalizes
groups as it goes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnnscope.analysis import gradients as single
from rnnscope.analysis import memory as mem
from rnnscope.distributed.shards import (Shard, ShardLedger, ShardRun, default_ledger,
                                         fingerprint, model_handle, resolve_model, run_sharded)
from rnnscope.errors import RnnscopeError


def state_gradient_sums_distributed(model: Any, sequences, state: str = "layer1.c",
                                    max_delay: int = 50, labels: Sequence[Sequence] | None = None,
                                    *, finalize: Callable | None = None, client: Any = None,
                                    sequences_per_shard: int | None = None,
                                    ledger: str | None = None, progress: bool = True,
                                    **kw: Any) -> tuple[single.GradientSums, ShardRun]:
    """:func:`~rnnscope.analysis.gradients.state_gradient_sums` over shards of ``sequences``.

    ``model``: a model or a checkpoint path readable by the workers. Other keyword arguments
    (``batch_size``, ``start_chunk``, ``max_bytes``) go to the single-process function on each
    worker. Returns the merged sums and the shard run.
    """
    source = model
    if not hasattr(model, "layers"):
        from rnnscope.checkpoint import load_model

        model = load_model(model)[0]
    layer, _ = single.check_state(model, state)
    single.embedding_matrix(model)
    seqs = [np.asarray(s, dtype=np.int64) for s in single.as_sequences(sequences)]
    lengths = [len(s) for s in seqs]
    max_delay = int(max_delay)
    if max_delay < 0:
        raise RnnscopeError(f"max delay must be >= 0, got {max_delay}")
    if not lengths or max(lengths) == 0:
        raise RnnscopeError("no input positions: every sequence is empty")
    if max_delay >= max(lengths):
        raise RnnscopeError(f"max delay {max_delay} is not shorter than every sequence (the longest "
                            f"has {max(lengths)} positions); lower the max delay or use longer "
                            "sequences")
    _, names = single.group_ids(labels, lengths)
    labels = [list(lab) for lab in labels] if labels is not None else None
    per = sequences_per_shard or max(1, -(-len(seqs) // 16))
    shards = []
    for a in range(0, len(seqs), per):
        b = min(a + per, len(seqs))
        if not sum(lengths[a:b]):
            continue  # only empty sequences: nothing to sum
        shards.append(Shard(f"seq-{a:08d}-{b:08d}",
                            (seqs[a:b], labels[a:b] if labels is not None else None),
                            size=sum(lengths[a:b])))
    if client is None:
        from rnnscope.distributed.cluster import require_distributed

        client = require_distributed().get_client()
    key = fingerprint(model, seqs, labels, state, max_delay, sorted(kw.items()))
    ledger = ledger or default_ledger("gradients", key)
    run = run_sharded(_gradient_shard, shards, client=client, ledger=ledger,
                      args=(model_handle(client, source), state, max_delay, names, kw),
                      desc=f"state gradients {state}", unit="positions", progress=progress)
    parts = [r.result for r in run.reports]
    out = single.GradientSums(state, max_delay, sum(p["all_sum"] for p in parts),
                              sum(p["all_count"] for p in parts))
    if names:
        g_sum = sum(p["group_sums"] for p in parts)
        g_count = sum(p["group_counts"] for p in parts)
        for k, name in enumerate(names):
            out.group_counts[name] = g_count[k]
            out.groups[name] = (finalize(g_sum[k], g_count[k]) if finalize
                                else (g_sum[k], g_count[k]))
    ShardLedger(ledger).clear()
    return out, run


def _gradient_shard(shard: Shard, handle: Any, state: str, max_delay: int, names: list,
                    kw: dict) -> dict[str, np.ndarray]:
    """Sums of this shard's sequences, padded to ``max_delay`` and to the global group list."""
    seqs, labels = shard.payload
    model = resolve_model(handle)
    longest = max(len(s) for s in seqs)
    delay = min(max_delay, longest - 1)  # delays this shard's sequences cannot reach sum to 0
    sums = single.state_gradient_sums(model, seqs, state, delay, labels, progress=False, **kw)
    T, (_, H, E) = max_delay + 1, sums.all_sum.shape
    out = {"all_sum": np.zeros((T, H, E)), "all_count": np.zeros(T, dtype=np.int64)}
    out["all_sum"][:delay + 1] = sums.all_sum
    out["all_count"][:delay + 1] = sums.all_count
    if names:
        index = {name: k for k, name in enumerate(names)}
        out["group_sums"] = np.zeros((len(names), T, H, E))
        out["group_counts"] = np.zeros((len(names), T), dtype=np.int64)
        for name, (s, c) in sums.groups.items():
            out["group_sums"][index[name], :delay + 1] = s
            out["group_counts"][index[name], :delay + 1] = c
    return out


def memory_distributed(model: Any, sequences, state: str = "layer1.c", max_delay: int = 50,
                       labels: Sequence[Sequence] | None = None, *, basis: str = "normalised",
                       keep_matrices: bool | None = None, label: str = "",
                       frequencies: dict | None = None, normalise_rows: Sequence[int] | None = None,
                       client: Any = None, **kw: Any) -> tuple[mem.MemoryResult, ShardRun]:
    """:func:`rnnscope.analysis.memory.memory` with the gradient sums computed over Dask."""
    loaded = model
    if not hasattr(model, "layers"):
        from rnnscope.checkpoint import load_model

        loaded = load_model(model)[0]
    runs: list[ShardRun] = []

    def over_dask(_, *args, **kwargs):  # the workers load the model from its source
        sums, run = state_gradient_sums_distributed(model, *args, client=client, **kwargs)
        runs.append(run)
        return sums

    result = mem.memory(loaded, sequences, state, max_delay, labels, basis=basis,
                        keep_matrices=keep_matrices, label=label, frequencies=frequencies,
                        normalise_rows=normalise_rows, gradient_sums=over_dask, **kw)
    return result, runs[0]
