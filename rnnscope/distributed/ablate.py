"""Sharded single-unit ablation sweeps: the same :class:`SweepResult`, units spread over workers.

:func:`rnnscope.agreement.ablation.ablation_sweep` ablates the units of each layer in batched
passes of a fixed number of units (one ablated unit per batch row; see :func:`pass_period`). Floating-point results depend
in the last bit on which rows share a pass, so shards here are contiguous runs of whole passes
of one layer's units: every shard runs exactly the passes the single-process sweep runs, and the
merged logit differences — hence the table — are identical to it.

Each worker builds the model and the :class:`~rnnscope.agreement.batched.AblationEngine` (with
its cached clean inputs) once and reuses them for all its shards. Shard results are small
(``[units, items]`` logit differences) and go to a ledger (default under
``~/.cache/rnnscope/shards``, named by a hash of model, items and settings), so an interrupted
sweep resumes where it stopped.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from rnnscope.agreement import ablation as single
from rnnscope.agreement.batched import AblationEngine, encode_items, unit_masks
from rnnscope.agreement.scoring import score_encoded
from rnnscope.agreement.tasks import NAItem
from rnnscope.distributed.shards import (Shard, ShardRun, default_ledger, fingerprint,
                                         model_handle, resolve_model, run_sharded, share,
                                         worker_cached)
from rnnscope.keys import global_unit
from rnnscope.vocab import Vocabulary


#: Default shard size (in ablated units, rounded to whole passes): big enough that a shard's
#: compute outweighs the per-task overhead, small enough to spread a 650-unit layer widely.
UNITS_PER_SHARD = 16


def sweep_shards(pairs: list[tuple[int, int]], chunk: int, passes_per_shard: int) -> list[Shard]:
    """Shards of ``passes_per_shard`` whole passes (``chunk`` units each) within one layer.

    Payload: ``(layer, units, rows)`` with ``rows`` the positions of those units in ``pairs``.
    """
    shards = []
    step = chunk * max(1, passes_per_shard)
    for n in sorted({p[0] for p in pairs}):
        rows = [i for i, p in enumerate(pairs) if p[0] == n]
        for a in range(0, len(rows), step):
            part = rows[a:a + step]
            units = [pairs[i][1] for i in part]
            shards.append(Shard(f"layer{n}-{a:06d}-{a + len(part):06d}", (n, units, part),
                                size=len(part)))
    return shards


def pass_period(engine: AblationEngine) -> int:
    """Number of ablated units after which every prefix tree of ``engine`` starts a new pass.

    The engine splits items into trees and runs ``max_rows // widest level`` ablations per
    pass of each tree; shard boundaries at multiples of the least common multiple of those
    keep every pass exactly as in the single-process sweep.
    """
    if hasattr(engine, "blocks"):
        return math.lcm(*[max(1, engine.max_rows // trie.widest) for trie in engine.blocks])
    return int(engine.chunk)  # engines with a single tree


def ablation_sweep_distributed(model: Any, vocab: Vocabulary, items: list[NAItem], mode: str = "h",
                               layers=None, units=None, max_rows: int = 1024, *,
                               client: Any = None, passes_per_shard: int | None = None,
                               ledger: str | None = None, progress: bool = True,
                               ) -> tuple[single.SweepResult, ShardRun]:
    """:func:`rnnscope.agreement.ablation.ablation_sweep` sharded by unit ranges over Dask.

    ``model``: a :class:`~rnnscope.model.RecurrentLM` or a checkpoint path readable by the
    workers. ``passes_per_shard`` batched passes make one shard (default: about
    :data:`UNITS_PER_SHARD` units). Returns the sweep (identical to the single-process one) and the shard run.
    """
    source = model
    if not hasattr(model, "run_with_states"):
        from rnnscope.checkpoint import load_model

        model = load_model(model)[0]
    comps = single.mode_components(model, mode)
    encoded = encode_items(items, vocab)
    engine = AblationEngine(model, encoded, max_rows=max_rows)
    full = score_encoded(engine)
    pairs = single.units_to_sweep(model, layers, units, comps[0])
    sizes = single.mode_sizes(model, comps)
    period = pass_period(engine)
    passes = passes_per_shard or max(1, round(UNITS_PER_SHARD / period))
    shards = sweep_shards(pairs, period, passes)
    if client is None:
        from rnnscope.distributed.cluster import require_distributed

        client = require_distributed().get_client()
    key = fingerprint(model, encoded.ids, mode, pairs, max_rows)
    ledger = ledger or default_ledger("ablate", key)
    context = share(client, (key, encoded.ids, max_rows, comps))
    run = run_sharded(_sweep_shard, shards, client=client, ledger=ledger,
                      args=(model_handle(client, source), context, sizes),
                      desc=f"ablation sweep ({mode})", unit="units", progress=progress)
    diffs = np.empty((len(pairs), engine.n_items), dtype=np.float32)
    for shard, report in zip(shards, run.reports):
        diffs[shard.payload[2]] = report.result["diffs"]
    table = single.sweep_table(encoded, full.table, pairs, diffs, sizes)
    unit_df = pd.DataFrame([{"layer": n, "unit": u, "global_unit": global_unit(n, u, sizes)}
                            for n, u in pairs])
    from rnnscope.distributed.shards import ShardLedger

    ShardLedger(ledger).clear()
    return single.SweepResult(full, unit_df, diffs, table, mode), run


def _sweep_shard(shard: Shard, handle: Any, context: tuple, sizes: tuple[int, ...]) -> dict:
    """Logit differences ``[units, items]`` with each of this shard's units ablated alone."""
    key, ids, max_rows, comps = context
    layer, units, _ = shard.payload
    engine = worker_cached(("ablation-engine", key),
                           lambda: AblationEngine(resolve_model(handle), _Ids(ids), max_rows=max_rows))
    m = unit_masks(units, sizes[layer - 1])
    return {"diffs": engine.diffs({layer: {c: m for c in comps}})}


class _Ids:
    """The part of :class:`~rnnscope.agreement.batched.Encoded` the engine reads (token ids)."""

    def __init__(self, ids: list[tuple[list[int], int, int]]):
        self.ids = ids
        self.items = ids
