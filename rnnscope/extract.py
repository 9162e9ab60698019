"""Extraction: run a model over a corpus and write every asked-for component to a store.

The corpus is aligned to the model's units (:func:`rnnscope.corpus.align.align_corpus`), the
token table is built up front (so the total number of rows is known and the arrays are
preallocated), then the model runs window by window:

* a *window* is a run of consecutive sentences holding about ``chunk_rows`` units;
* ``reset="sentence"``: each sentence is read as ``[<eos>] + units`` from a zero state (the
  ``<eos>`` plays beginning-of-sentence; its row is not stored). Inside a window sentences are
  sorted by length and batched (``batch_size``), right-padded; padding rows are dropped.
  Because the recurrence is causal, this equals running every sentence alone;
* ``reset="carry"``: the corpus is one stream ``<eos> s1 <eos> s2 ...`` read with batch 1 and
  the state carried from window to window; the ``<eos>`` rows are not stored.

Rows land in corpus order (sentence, position) whatever the batching. Memory is bounded by one
window: finished rows are written only in whole zarr chunks (each chunk written once), and a
progress file (atomic) records how many rows are safely on disk, plus the carried state in
carry mode. ``resume=True`` continues from there with identical results; ``COMPLETE`` is written
last (see :mod:`rnnscope.store`).

>>> from rnnscope.corpus.types import Corpus, Sentence
>>> from rnnscope.model import ModelConfig, RecurrentLM
>>> from rnnscope.vocab import Vocabulary
>>> import tempfile
>>> vocab = Vocabulary.build("word", ["the cat sat"])
>>> model = RecurrentLM(ModelConfig(vocab_size=len(vocab), hidden_size=8, emb_dim=4)).eval()
>>> corpus = Corpus([Sentence(["the", "cat", "sat"], {"upos": ["DET", "NOUN", "VERB"]})])
>>> store = extract(model, vocab, corpus, tempfile.mkdtemp() + "/s", progress=False)
>>> store["layer1.c"].shape, list(store.tokens["upos"])
((3, 8), ['DET', 'NOUN', 'VERB'])
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from rnnscope.corpus.align import align_corpus
from rnnscope.corpus.types import AlignedSentence, Corpus
from rnnscope.corpus.unknown import unknown_report
from rnnscope.errors import StoreError
from rnnscope.extract_progress import PROGRESS, Window, read_progress, ChunkedWriter, state_files
from rnnscope.extract_tokens import SEPARATOR_TAG, TAG_COLUMNS, with_derived, token_table
from rnnscope.keys import all_keys, parse_key
from rnnscope.model import RecurrentLM
from rnnscope.store import (DEFAULT_CHUNK_ROWS, ActivationStore, StoreWriter, check_dtype,
                            store_state, writer_lock)
from rnnscope.vocab import Vocabulary

#: Re-exported: the token table and the progress file are part of what extraction defines.
__all__ = ["PROGRESS", "RESETS", "SEPARATOR_TAG", "TAG_COLUMNS", "ExtractionPlan", "Window",
           "extract", "open_writer", "plan_extraction", "run_sentences", "token_table",
           "without_onednn"]

RESETS = ("sentence", "carry")
#: A window holds at least this many batches of sentences (sorted by length inside it).
WINDOW_BATCHES = 2
#: Called after every finished window with (windows done, rows safely on disk).
Callback = Callable[[int, int], None]


def extract(model: RecurrentLM, vocab: Vocabulary, corpus: Corpus, out: Any,
            components: list[str] | None = None, dtype: str = "float16",
            reset: str = "sentence", batch_size: int = 64, resume: bool = False,
            progress: bool = True, layers: list[int] | None = None, overwrite: bool = False,
            chunk_rows: int = DEFAULT_CHUNK_ROWS, callback: Callback | None = None,
            compression: str | None = None) -> ActivationStore:
    """Run ``model`` over ``corpus`` and write the components to a new store at ``out``.

    ``components`` (e.g. ``["h", "c"]``) and ``layers`` (1-based) limit what is stored (default:
    everything). ``resume`` continues an interrupted extraction of the same model, corpus and
    settings; ``overwrite`` replaces an existing store. ``compression="zstd"`` trades speed for
    disk (see :meth:`StoreWriter.create`). Returns the opened store.
    """
    plan = plan_extraction(model, vocab, corpus, components, layers, dtype, reset, batch_size,
                           chunk_rows)
    with writer_lock(out):
        return _extract_locked(model, vocab, plan, out, resume, overwrite, callback, compression,
                               progress)


@dataclass
class ExtractionPlan:
    """What an extraction writes and in which pieces; built once by :func:`plan_extraction`,
    run by :func:`extract` in one process or by :mod:`rnnscope.distributed` across workers
    (the same plan gives the same store)."""

    keys: list[str]                   # store keys, model order
    aligned: list[AlignedSentence]    # the corpus aligned to the vocabulary's units
    tokens: pd.DataFrame              # the token table: one row per model unit
    windows: list[Window]             # consecutive sentence runs (units of work and resuming)
    meta: dict                        # the store's meta.json (incl. the settings fingerprint)
    dtype: str
    chunk_rows: int
    reset: str
    batch_size: int


def plan_extraction(model: RecurrentLM, vocab: Vocabulary, corpus: Corpus,
                    components: list[str] | None = None, layers: list[int] | None = None,
                    dtype: str = "float16", reset: str = "sentence", batch_size: int = 64,
                    chunk_rows: int = DEFAULT_CHUNK_ROWS) -> ExtractionPlan:
    """Validate the settings, align the corpus and cut it into windows (see :func:`extract`)."""
    if reset not in RESETS:
        raise StoreError(f"reset must be 'sentence' or 'carry', got {reset!r}")
    if batch_size < 1:
        raise StoreError(f"batch size must be positive, got {batch_size}")
    dtype = check_dtype(dtype)
    keys = _keys(model, components, layers)
    corpus = with_derived(corpus)
    aligned = align_corpus(corpus, vocab)
    tokens = token_table(corpus, aligned)
    if len(tokens) == 0:
        raise StoreError(f"corpus {corpus.name!r} has no tokens to extract")
    chunk_rows = max(1, min(int(chunk_rows), len(tokens)))
    # enough sentences per window for full, length-sorted batches (less padding)
    windows = _windows(aligned, chunk_rows, WINDOW_BATCHES * batch_size if reset == "sentence" else 1)
    unknown = unknown_report((a.units for a in aligned), vocab.stoi)
    meta = {
        "unknown": unknown.to_dict(),
        "model": model.config.to_dict(), "vocab_kind": vocab.kind,
        "components": sorted({parse_key(k)[1] for k in keys}, key=model.components.index),
        "layers": sorted({parse_key(k)[0] for k in keys}), "reset": reset,
        "corpus": corpus.name, "n_sentences": len(aligned), "batch_size": batch_size,
        "bos": "<eos>", "plan": _fingerprint(model, vocab, aligned, keys, dtype, reset,
                                             batch_size, chunk_rows),
    }
    return ExtractionPlan(keys, aligned, tokens, windows, meta, dtype, chunk_rows, reset, batch_size)


def _extract_locked(model: RecurrentLM, vocab: Vocabulary, plan: ExtractionPlan, out: Any,
                    resume: bool, overwrite: bool, callback: Callback | None,
                    compression: str | None, progress: bool) -> ActivationStore:
    """The body of :func:`extract`, run while holding the store's write lock."""
    aligned, tokens, windows, keys = plan.aligned, plan.tokens, plan.windows, plan.keys
    chunk_rows, reset, batch_size = plan.chunk_rows, plan.reset, plan.batch_size
    writer, flushed, (state, state_window) = open_writer(plan, out, model, resume, overwrite,
                                                         compression)
    run = ChunkedWriter(writer, keys, chunk_rows, flushed)
    first = next((w.index for w in windows if w.stop > flushed), len(windows))
    carried_ok = (state_window == first and (first > 0 or state is None)) or \
        (first == 0 and state_window is None)  # window 0 starts from the zero state
    if reset == "carry" and first < len(windows) and not carried_ok:
        raise StoreError(f"{writer.folder.url}/{PROGRESS}: resuming at window {first} needs the "
                         f"state carried into it, but the record has "
                         + ("none" if state_window is None else f"window {state_window}'s")
                         + "; use --overwrite to start the extraction again")
    bar = tqdm(total=len(tokens), initial=flushed, unit="tok", disable=not progress,
               desc="extract")
    try:
        with torch.inference_mode(), without_onednn():
            for window in windows[first:]:
                if reset == "sentence":
                    rows = run_sentences(model, aligned, window, keys, batch_size, vocab.eos_id,
                                         dtype=run.np_dtype)
                else:
                    run.remember_state(window.index, state)
                    rows, state = _run_stream(model, vocab, aligned, window, keys, state,
                                              dtype=run.np_dtype)
                run.add(window, rows, state if reset == "carry" else None)
                bar.update(window.stop - max(window.start, bar.n))
                if callback is not None:
                    run.wait()  # the callback sees the store as it is on disk, nothing in flight
                    callback(window.index + 1, run.on_disk)
        run.flush(final=True)
    finally:
        run.close()  # an interrupted run still finishes (and records) the write in flight
        bar.close()
    store = writer.finalize(tokens)
    writer.folder.remove(PROGRESS)
    for name in state_files(writer):
        writer.folder.remove(name)
    return store


@contextmanager
def without_onednn() -> Iterator[None]:
    """Route ``nn.LSTM``/``GRU`` to PyTorch's native CPU kernels while inside.

    With oneDNN (mkldnn) enabled, PyTorch builds a new oneDNN RNN primitive for every new input
    shape, which costs 0.2-1.5 s each on this machine: ruinous when sentence lengths vary from
    batch to batch. The native kernels give the same results without that cost.
    """
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


# -- planning ------------------------------------------------------------------------------------
def _keys(model: RecurrentLM, components: list[str] | None, layers: list[int] | None) -> list[str]:
    n = model.config.num_layers
    layers = list(layers) if layers else list(range(1, n + 1))
    bad = [layer for layer in layers if not 1 <= layer <= n]
    if bad:
        raise StoreError(f"model has layers 1..{n}; got layer {bad[0]}")
    return [k for k in all_keys(model.cell, n, components) if parse_key(k)[0] in layers]


def _windows(aligned: list[AlignedSentence], target_rows: int,
             min_sentences: int = 1) -> list[Window]:
    """Split the corpus into consecutive runs of at least ``min_sentences`` sentences and at
    least ``target_rows`` units (the last window may be smaller)."""
    windows: list[Window] = []
    current: list[int] = []
    start = row = 0
    for a in aligned:
        current.append(a.sentence_index)
        row += len(a)
        if row - start >= target_rows and len(current) >= min_sentences:
            windows.append(Window(len(windows), current, start, row))
            current, start = [], row
    if current:
        windows.append(Window(len(windows), current, start, row))
    return windows


def _fingerprint(model: RecurrentLM, vocab: Vocabulary, aligned: list[AlignedSentence],
                 keys: list[str], dtype: str, reset: str, batch_size: int, chunk_rows: int) -> str:
    """A hash of everything that determines the result, to refuse resuming something else."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().cpu().numpy().tobytes())
    h.update(json.dumps([vocab.kind, vocab.itos, keys, dtype, reset, batch_size,
                         chunk_rows]).encode())
    for a in aligned:
        h.update(np.asarray(a.ids, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()


def open_writer(plan: ExtractionPlan, out: Any, model: RecurrentLM, resume: bool = False,
                overwrite: bool = False, compression: str | None = None):
    """``(writer, rows already on disk, (carried state, its window))``: a fresh store for
    ``plan``, or (``resume``) the interrupted one with its flushed rows and carried state."""
    tokens, keys, dtype, chunk_rows, meta = (plan.tokens, plan.keys, plan.dtype, plan.chunk_rows,
                                             plan.meta)
    state_now = store_state(out)
    if state_now == "complete" and not overwrite:
        raise StoreError(f"{out} already holds a complete store; use --overwrite to replace it")
    if state_now == "incomplete" and resume and not overwrite:
        writer = StoreWriter.reopen(out)
        if writer.meta.get("plan") != meta["plan"]:
            raise StoreError(f"{out} was started with a different model, corpus or settings; "
                             "cannot resume it (use --overwrite to start again)")
        flushed, state, state_window = read_progress(writer, model)
        return writer, flushed, (state, state_window)
    if state_now == "incomplete" and not overwrite:
        raise StoreError(f"{out} holds an incomplete store (interrupted extraction); re-run with "
                         "--resume to continue it, or --overwrite to start again")
    if state_now == "other" and not overwrite:
        raise StoreError(f"{out} exists and is not an activation store; choose another folder")
    writer = StoreWriter.create(out, n_rows=len(tokens), keys=keys,
                                hidden_size={k: model.config.width(*parse_key(k)) for k in keys},
                                dtype=dtype,
                                chunk_rows=chunk_rows, meta=meta, overwrite=overwrite,
                                compression=compression)
    return writer, 0, (None, None)


# -- running the model -------------------------------------------------------------------------
def run_sentences(model: RecurrentLM, aligned: list[AlignedSentence], window: Window,
                  keys: list[str], batch_size: int, eos: int, dtype: Any = np.float32,
                  ) -> dict[str, np.ndarray]:
    """Rows of ``window`` (corpus order) with a fresh state per sentence, batched by length."""
    n_rows = window.stop - window.start
    out = {k: np.empty((n_rows, model.config.width(*parse_key(k))), dtype=dtype) for k in keys}
    offsets = {}
    row = 0
    for s in window.sentences:
        offsets[s] = row
        row += len(aligned[s])
    comps = sorted({parse_key(k)[1] for k in keys}, key=model.components.index)
    order = sorted((s for s in window.sentences if len(aligned[s])), key=lambda s: len(aligned[s]))
    to = _TORCH_DTYPES[np.dtype(dtype).name]
    targets = {k: torch.from_numpy(v) for k, v in out.items()}  # views: writes land in ``out``
    for b in range(0, len(order), batch_size):
        batch = order[b:b + batch_size]
        lengths = [len(aligned[s]) for s in batch]
        ids = torch.full((len(batch), max(lengths) + 1), eos, dtype=torch.long)
        for j, s in enumerate(batch):
            ids[j, 1:lengths[j] + 1] = torch.as_tensor(aligned[s].ids)
        ids = ids.to(model.encoder.weight.device)
        _, states, _ = model.run_with_states(ids, components=comps, compute_logits=False)
        for k in keys:
            # on the CPU each sentence's rows are cast (torch: ~6x numpy's float16 cast) and
            # copied into the window in one pass; from a GPU, one cast and transfer per batch
            values = states[k] if states[k].device.type == "cpu" else states[k].to(to).cpu()
            target = targets[k]
            for j, (s, n) in enumerate(zip(batch, lengths)):
                target[offsets[s]:offsets[s] + n].copy_(values[j, 1:n + 1])
    return out


def _run_stream(model: RecurrentLM, vocab: Vocabulary, aligned: list[AlignedSentence],
                window: Window, keys: list[str], state: list | None, dtype: Any = np.float32):
    """Rows of ``window`` read as one stream ``<eos> s1 <eos> s2 ...`` from ``state``."""
    pieces, keep = [], []
    for s in window.sentences:
        pieces.append([vocab.eos_id] + list(aligned[s].ids))
        keep.append([False] + [True] * len(aligned[s]))
    ids = torch.as_tensor([i for p in pieces for i in p], dtype=torch.long,
                          device=model.encoder.weight.device)[None]
    mask = np.array([k for ks in keep for k in ks], dtype=bool)
    comps = sorted({parse_key(k)[1] for k in keys}, key=model.components.index)
    _, states, final = model.run_with_states(ids, state=state, components=comps,
                                             compute_logits=False)
    keep = torch.from_numpy(mask).to(ids.device)
    to = _TORCH_DTYPES[np.dtype(dtype).name]
    return {k: states[k][0][keep].to(to).cpu().numpy() for k in keys}, final


_TORCH_DTYPES = {"float16": torch.float16, "float32": torch.float32}


