"""Sharded extraction: the same store as :func:`rnnscope.extract.extract`, written by many workers.

The single-process extractor cuts the corpus into *windows* (consecutive sentences holding
about ``chunk_rows`` units) and, inside a window, batches sentences by length. Floating-point
results depend (in the last bit) on which sentences share a batch, so the shards here reuse
exactly those windows and batches. A shard owns a chunk-aligned row range ``[start, stop)`` of
the store; it runs every window overlapping that range (a window straddling two shards is run
by both, identically) and writes only its own rows, so no two workers ever touch one zarr chunk.
The token table, meta and ``COMPLETE`` marker are written by the client at the end.

The price of exactness is that a window straddling a shard boundary is computed twice; the
default shard size (:func:`default_shard_rows`, at least 8 windows on large corpora) keeps
that under ~1/8.

Only ``reset="sentence"`` can be sharded: with the state carried across sentences every row
depends on all the text before it.

Shard markers live in ``<store>/shards/`` while the store is incomplete: ``resume=True``
re-runs only unmarked shards (after a crash of the client, a worker or the whole cluster).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from rnnscope import extract as single
from rnnscope.corpus.types import AlignedSentence, Corpus
from rnnscope.distributed.shards import (Shard, ShardRun, absolute, model_handle, resolve_model,
                                         row_shards, run_sharded)
from rnnscope.errors import StoreError
from rnnscope.store import DEFAULT_CHUNK_ROWS, ActivationStore, StoreWriter, writer_lock
from rnnscope.vocab import Vocabulary

LEDGER = "shards"


def default_shard_rows(n_rows: int, chunk_rows: int, window_rows: float) -> int:
    """Rows per shard, in whole chunks.

    At least 8 windows (a shard re-runs up to one window of its neighbour, so this bounds the
    redundant work near 1/8) and 16 chunks; but a corpus that would give fewer than 4 shards
    is cut into about 4 of at least 2 windows each, so small corpora still use several
    workers. Depends only on the corpus and the settings (not on the number of workers), so a
    resumed run cuts the same shards and finds its markers.
    """
    rows = max(8 * window_rows, 16 * chunk_rows)
    if n_rows / rows < 4:
        rows = max(2 * window_rows, n_rows / 4)
    return int(math.ceil(min(rows, n_rows) / chunk_rows) * chunk_rows)


def extract_distributed(model: Any, vocab: Vocabulary, corpus: Corpus, out: Any, *,
                        client: Any = None, components: list[str] | None = None,
                        dtype: str = "float16", reset: str = "sentence", batch_size: int = 64,
                        resume: bool = False, progress: bool = True,
                        layers: list[int] | None = None, overwrite: bool = False,
                        chunk_rows: int = DEFAULT_CHUNK_ROWS, shard_rows: int | None = None,
                        compression: str | None = None) -> tuple[ActivationStore, ShardRun]:
    """:func:`rnnscope.extract.extract` sharded by sentence windows over a Dask cluster.

    ``model`` is a :class:`~rnnscope.model.RecurrentLM` or a checkpoint path (then every worker
    loads it once from there; the path must be readable by the workers). Returns the finished
    store (identical to a single-process run with the same settings) and the
    :class:`~rnnscope.distributed.shards.ShardRun` with per-worker throughput.
    """
    if reset != "sentence":
        raise StoreError("only reset='sentence' extraction can be sharded: with the state carried "
                         "across sentences every row depends on all text before it "
                         "(run it without --cluster/--workers)")
    if batch_size < 1:
        raise StoreError(f"batch size must be positive, got {batch_size}")
    source = model
    if not hasattr(model, "run_with_states"):
        from rnnscope.checkpoint import load_model

        model = load_model(model)[0]
    plan = single.plan_extraction(model, vocab, corpus, components, layers, dtype, reset,
                                  batch_size, chunk_rows)
    aligned, tokens, windows, keys = plan.aligned, plan.tokens, plan.windows, plan.keys
    chunk_rows = plan.chunk_rows
    out = absolute(out)
    with writer_lock(out):  # one writer per store; the workers write inside this lock
        writer, flushed, _ = single.open_writer(plan, out, model, resume, overwrite, compression)
        ledger = writer.folder.url_of(LEDGER)
        shards = []
        window_rows = len(tokens) / len(windows)
        for s in row_shards(len(tokens), shard_rows or default_shard_rows(len(tokens), chunk_rows,
                                                                          window_rows),
                            align=chunk_rows):
            start, stop = s.payload
            mine = [w for w in windows if w.start < stop and w.stop > start]
            sentences = {i: _ids_only(aligned[i]) for w in mine for i in w.sentences}
            if stop <= flushed:  # on disk already (an interrupted single-process run)
                continue
            shards.append(Shard(s.name, (start, stop, mine, sentences), size=s.size))
        if client is None:
            from rnnscope.distributed.cluster import require_distributed

            client = require_distributed().get_client()
        handle = model_handle(client, source)
        run = run_sharded(_extract_shard, shards, client=client, ledger=ledger,
                          args=(handle, writer.path, keys, batch_size, vocab.eos_id),
                          desc="extract", unit="tokens", progress=progress)
        store = writer.finalize(tokens)
        writer.folder.remove(single.PROGRESS)
        writer.folder.remove(LEDGER)
        return store, run


def _ids_only(a: AlignedSentence) -> AlignedSentence:
    """The parts of an aligned sentence a worker needs (ids and length), to ship less."""
    return AlignedSentence(a.sentence_index, [""] * len(a), list(a.ids), [], [])


def _extract_shard(shard: Shard, handle: Any, path: str, keys: list[str], batch_size: int,
                   eos: int) -> None:
    """Run the windows overlapping this shard's rows and write rows ``[start, stop)``."""
    start, stop, windows, sentences = shard.payload
    model = resolve_model(handle)
    writer = StoreWriter.reopen(path)
    with torch.inference_mode(), single.without_onednn():  # the kernels extract() runs
        for window in windows:
            rows = single.run_sentences(model, sentences, window, keys, batch_size, eos,
                                        dtype=np.dtype(writer.meta["dtype"]))
            lo, hi = max(start, window.start), min(stop, window.stop)
            for k in keys:
                writer.write(k, lo, rows[k][lo - window.start:hi - window.start])
