"""Sharded decoding probes: one task per (component key, feature), same table as :func:`probe`.

:func:`rnnscope.analysis.probe.probe` fits one probe per component key; the labels, the split
and the control task depend only on the feature and the token table, never on the key. So a
shard here is one (key, feature) pair, run by calling the public ``probe`` on that one key;
the merged table (rows in the single-process order) equals the single-process one.

The store must be readable by every worker (a shared folder, or an fsspec URL such as
``s3://...``); each worker opens it once and keeps its token table in memory for its shards.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from rnnscope.analysis import probe as single
from rnnscope.analysis.labels import select_keys
from rnnscope.distributed.shards import (Shard, ShardLedger, ShardRun, absolute,
                                         default_ledger, fingerprint, run_sharded, worker_cached)
from rnnscope.keys import parse_key
from rnnscope.store import ActivationStore


def probe_distributed(store: Any, features: str | Sequence[str],
                      components: Sequence[str] | None = None, layers: Sequence[int] | None = None,
                      offsets: Sequence[int] = (0,), read: str = "word_end", test_store: Any = None,
                      control: bool = True, C: float = 1.0, test_size: float = 0.1, seed: int = 0,
                      min_count: int = 1, *, client: Any = None, ledger: str | None = None,
                      progress: bool = True) -> tuple[dict[str, single.ProbeResult], ShardRun]:
    """:func:`rnnscope.analysis.probe.probe` for each of ``features``, sharded over Dask.

    ``store`` / ``test_store``: paths or URLs of activation stores (or opened stores; their
    paths are used). Returns ``{feature: ProbeResult}`` (each identical to the single-process
    result) and the shard run.
    """
    features = [features] if isinstance(features, str) else list(features)
    path = absolute(store.path if isinstance(store, ActivationStore) else store)
    test_path = (None if test_store is None else
                 absolute(test_store.path if isinstance(test_store, ActivationStore) else test_store))
    opened = ActivationStore.open(path)
    keys = select_keys(opened, components=components, layers=layers)
    if test_path is not None:
        select_keys(ActivationStore.open(test_path), keys=keys)
    options = dict(offsets=tuple(offsets), read=read, control=control, C=C, test_size=test_size,
                   seed=seed, min_count=min_count)
    pairs = [(feature, key) for feature in features for key in keys]
    shards = [Shard(f"{i:05d}-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{feature}-{key}"),
                    (feature, key), size=1) for i, (feature, key) in enumerate(pairs)]
    if client is None:
        from rnnscope.distributed.cluster import require_distributed

        client = require_distributed().get_client()
    job = fingerprint(path, opened.meta.get("plan") or opened.meta, test_path, features, keys,
                      sorted(options.items()))
    ledger = ledger or default_ledger("probe", job)
    run = run_sharded(_probe_shard, shards, client=client, ledger=ledger,
                      args=(path, test_path, options, job), desc="probe", unit="probes",
                      progress=progress)
    results = {}
    for feature in features:
        parts = [r.result for s, r in zip(shards, run.reports) if s.payload[0] == feature]
        table = pd.concat(parts, ignore_index=True)
        order = {o: i for i, o in enumerate(options["offsets"])}
        table = (table.assign(_o=table["offset"].map(order), _k=table["key"].map(keys.index))
                 .sort_values(["_o", "_k"], kind="stable").drop(columns=["_o", "_k"])
                 .reset_index(drop=True))
        results[feature] = single.ProbeResult(table, feature)
    ShardLedger(ledger).clear()
    return results, run


def probe_one_distributed(store: Any, feature: str, *args: Any, **kwargs: Any,
                          ) -> tuple[single.ProbeResult, ShardRun]:
    """:func:`probe_distributed` for one feature, with :func:`rnnscope.analysis.probe.probe`'s
    signature (``store`` may be an opened store); returns ``(ProbeResult, ShardRun)``."""
    results, run = probe_distributed(store, [feature], *args, **kwargs)
    return results[feature], run


def _probe_shard(shard: Shard, path: str, test_path: str | None, options: dict,
                 job: str) -> pd.DataFrame:
    """The probe table rows of one key for one feature (all offsets)."""
    feature, key = shard.payload
    layer, component = parse_key(key)
    store = worker_cached(("store", path, job), lambda: ActivationStore.open(path))
    test = (worker_cached(("store", test_path, job), lambda: ActivationStore.open(test_path))
            if test_path else None)
    return single.probe(store, feature, components=[component], layers=[layer], test_store=test,
                        progress=False, **options).table
