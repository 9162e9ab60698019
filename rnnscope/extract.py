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
import io
import json
import re
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
from rnnscope.errors import StoreError, brief
from rnnscope.keys import all_keys, parse_key
from rnnscope.model import RecurrentLM
from rnnscope.corpus.unknown import unknown_report
from rnnscope.store import (DEFAULT_CHUNK_ROWS, TOKEN_COLUMNS, ActivationStore, StoreWriter,
                            check_dtype, store_state, writer_lock)
from rnnscope.vocab import Vocabulary

RESETS = ("sentence", "carry")
#: Tag columns whose value for separator units (spaces of char/byte models) is ``SPACE``.
TAG_COLUMNS = ("upos", "xpos")
SEPARATOR_TAG = "SPACE"
PROGRESS = "progress.json"
#: A window holds at least this many batches of sentences (sorted by length inside it).
WINDOW_BATCHES = 2
#: Called after every finished window with (windows done, rows safely on disk).
Callback = Callable[[int, int], None]


@dataclass
class Window:
    """A run of consecutive sentences processed together (the unit of work and of resuming)."""

    index: int
    sentences: list[int]   # corpus indices, in order
    start: int             # first row of the window
    stop: int              # one past its last row


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
    corpus = _with_derived(corpus)
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
    run = _Run(writer, keys, chunk_rows, flushed)
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
    for name in _state_files(writer):
        writer.folder.remove(name)
    return store


# -- the token table ------------------------------------------------------------------------------
def token_table(corpus: Corpus, aligned: list[AlignedSentence]) -> pd.DataFrame:
    """One row per model unit: position, token, its word, and the word's annotations.

    Separators of char/byte models have ``word_index == -1``, ``word`` missing and the tag
    ``SPACE`` in ``upos``/``xpos`` (other annotations missing). FEATS dicts become one column
    per key (``Number``, ``Tense``, ...). The word-level ``position`` annotation is dropped:
    ``word_index`` already is the word's position in its sentence.
    """
    names = [n for n in corpus.annotation_names if n not in ("feats", "position")]
    feat_keys: dict[str, None] = {}
    for s in corpus:
        for feats in s.annotations.get("feats") or []:
            feat_keys.update(dict.fromkeys(feats or {}))
    feat_cols = {f: (f"feats_{f}" if f in names or f in TOKEN_COLUMNS else f) for f in feat_keys}
    parts: dict[str, list] = {c: [] for c in (*TOKEN_COLUMNS, *names, *feat_cols.values())}
    for a in aligned:
        sentence = corpus[a.sentence_index]
        n = len(a)
        w = np.asarray(a.word_of_unit, dtype=np.int64)
        n_words = len(sentence.words)
        end = np.zeros(n, dtype=bool)
        end[np.asarray(a.last_unit_of_word, dtype=np.int64)] = True
        parts["sentence"].append(np.full(n, a.sentence_index, dtype=np.int64))
        parts["position"].append(np.arange(n, dtype=np.int64))
        parts["token"].append(np.asarray(a.units, dtype=object))
        parts["word"].append(_per_unit(sentence.words, w, None))
        parts["word_index"].append(w)
        parts["is_word_end"].append(end)
        for name in names:
            values = sentence.annotations.get(name) or [None] * n_words
            parts[name].append(_per_unit(values, w, SEPARATOR_TAG if name in TAG_COLUMNS else None))
        feats = sentence.annotations.get("feats") or [None] * n_words
        for f, col in feat_cols.items():
            parts[col].append(_per_unit([(d or {}).get(f) for d in feats], w, None))
    if not aligned:
        return pd.DataFrame({c: [] for c in parts})
    return pd.DataFrame({c: _column(np.concatenate(v)) for c, v in parts.items()})


def _per_unit(values: list, word_of_unit: np.ndarray, separator: Any) -> np.ndarray:
    """Word-level ``values`` spread over units; index -1 (separators) picks ``separator``."""
    table = np.empty(len(values) + 1, dtype=object)
    table[:-1] = values
    table[-1] = separator
    return table[word_of_unit]


def _column(values: np.ndarray) -> pd.Series:
    """A typed column: ints with gaps become floats with NaN, mixed types become strings."""
    if values.dtype != object:
        return pd.Series(values)
    col = pd.Series(values.tolist())
    if col.dtype == object:
        kinds = {type(v) for v in values if v is not None and v == v}
        if len(kinds) > 1:
            col = pd.Series([None if v is None else str(v) for v in values], dtype=object)
    return col


def _with_derived(corpus: Corpus) -> Corpus:
    """The corpus with derived annotations (depth, length, ...) where the module is available."""
    try:
        from rnnscope.corpus.derived import add_derived
    except ImportError:  # not installed yet in this checkout
        return corpus
    result = add_derived(corpus)
    return corpus if result is None else result


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
        flushed, state, state_window = _read_progress(writer, model)
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
    for b in range(0, len(order), batch_size):
        batch = order[b:b + batch_size]
        lengths = [len(aligned[s]) for s in batch]
        ids = torch.full((len(batch), max(lengths) + 1), eos, dtype=torch.long)
        for j, s in enumerate(batch):
            ids[j, 1:lengths[j] + 1] = torch.as_tensor(aligned[s].ids)
        ids = ids.to(model.encoder.weight.device)
        _, states, _ = model.run_with_states(ids, components=comps, compute_logits=False)
        for k in keys:
            # torch converts to float16 ~6x faster than numpy; then plain slice copies
            values, target = states[k].to(_TORCH_DTYPES[np.dtype(dtype).name]).cpu().numpy(), out[k]
            for j, (s, n) in enumerate(zip(batch, lengths)):
                target[offsets[s]:offsets[s] + n] = values[j, 1:n + 1]
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


# -- bounded, chunk-aligned writing and progress ---------------------------------------------
class _Run:
    """Buffers finished rows and writes them in whole chunks, recording progress atomically.

    Progress is ``flushed_rows`` (rows ``[0, flushed)`` are on disk). A resumed run restarts at
    the first window ending after that row; in carry mode the state at that window's start is
    saved next to the progress file.

    Writes run on one background thread while the model computes the next window (at most one
    write in flight, so memory stays bounded); the progress record is written by that thread
    after the rows it names are on disk, so an interruption never records unwritten rows.
    """

    def __init__(self, writer: StoreWriter, keys: list[str], chunk_rows: int, flushed: int):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnnscope-store-writer")
        self._inflight = None
        self.on_disk = flushed  # rows [0, on_disk) written and recorded
        self.writer = writer
        self.keys = keys
        self.chunk_rows = chunk_rows
        self.flushed = flushed
        self.pending: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        self.pending_rows = 0
        self.windows: list[Window] = []      # windows seen whose rows are not all on disk
        self.starts: dict[int, Any] = {}      # carry mode: window index -> state at its start
        self.next_window = 0                  # index of the window after the last one seen
        self.np_dtype = np.dtype(writer.meta["dtype"])

    def remember_state(self, window: int, state: Any) -> None:
        """Carry mode: the state at the start of ``window``."""
        self.starts[window] = state

    def add(self, window: Window, rows: dict[str, np.ndarray], end_state: Any = None) -> None:
        """Queue ``window``'s rows (dropping any already on disk) and flush whole chunks."""
        skip = max(0, self.flushed + self.pending_rows - window.start)
        for k in self.keys:
            self.pending[k].append(rows[k][skip:].astype(self.np_dtype, copy=False))
        self.pending_rows += window.stop - window.start - skip
        self.windows.append(window)
        self.next_window = window.index + 1
        if end_state is not None:
            self.starts[window.index + 1] = end_state
        self.flush(final=False)

    def flush(self, final: bool) -> None:
        end = self.flushed + self.pending_rows
        n_rows = self.writer.meta["n_rows"]
        target = end if (final or end == n_rows) else end - end % self.chunk_rows
        if target <= self.flushed:
            return
        count = target - self.flushed
        blocks = {}
        for k in self.keys:
            block = np.concatenate(self.pending[k]) if len(self.pending[k]) > 1 else self.pending[k][0]
            blocks[k] = block[:count]
            self.pending[k] = [block[count:]] if count < len(block) else []
        self.pending_rows -= count
        start, self.flushed = self.flushed, target
        self.windows = [w for w in self.windows if w.stop > self.flushed]
        resume_at = self.windows[0].index if self.windows else self.next_window
        carried = self.starts.get(resume_at)  # carry mode: the state to resume with
        self.starts = {i: s for i, s in self.starts.items() if i >= resume_at}
        self.wait()  # one write in flight at most
        self._inflight = self._pool.submit(self._write, blocks, start, target, resume_at, carried)
        if final:
            self.wait()

    def _write(self, blocks: dict[str, np.ndarray], start: int, target: int, resume_at: int,
               carried: Any) -> None:
        """(background) Write the rows, then record them as done."""
        for k, block in blocks.items():
            self.writer.write(k, start, block)
        record: dict[str, Any] = {"flushed_rows": target}
        if carried is not None:
            name = f"state-{resume_at}.npz"
            record["state_sha256"] = _write_state(self.writer, name, carried)
            record["state_file"] = name
            record["state_window"] = resume_at
        self.writer.folder.write_text(PROGRESS, json.dumps(record))
        for name in _state_files(self.writer):
            if name != record.get("state_file"):
                self.writer.folder.remove(name)
        self.on_disk = target

    def wait(self) -> None:
        """Until the write in flight (if any) is on disk; re-raises its error."""
        job, self._inflight = self._inflight, None
        if job is not None:
            job.result()

    def close(self) -> None:
        """Finish the write in flight (also when the run is being interrupted) and stop the thread."""
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def _state_files(writer: StoreWriter) -> list[str]:
    fs, root = writer.folder.fs, writer.folder.root
    return [p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)
            if p.rsplit("/", 1)[-1].startswith("state-")]


def _write_state(writer: StoreWriter, name: str, state: Any) -> str:
    """Write the carried ``state`` as ``name`` in the store; returns the file's SHA-256."""
    buf = io.BytesIO()
    arrays = {} if state is None else {f"s{i}": t.cpu().numpy() for i, t in enumerate(_flat(state))}
    np.savez(buf, **arrays)
    writer.folder.write_bytes(name, buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def _flat(state: list) -> list[torch.Tensor]:
    out = []
    for layer in state:
        out.extend(layer if isinstance(layer, tuple) else (layer,))
    return out


def _read_progress(writer: StoreWriter, model: RecurrentLM) -> tuple[int, Any, int | None]:
    """``(flushed rows, carried state, window the state belongs to)`` of an interrupted run.

    Everything in ``progress.json`` is checked (a :class:`StoreError` names the file and key):
    the rows it claims are on disk must be whole chunks of the store (or all of it), and the
    ``state_file`` must be one of the store's own ``state-N.npz`` files holding a state of
    this model's shape.
    """
    folder = writer.folder
    where = f"{folder.url}/{PROGRESS}"
    again = "; use --overwrite to start the extraction again"
    if not folder.exists(PROGRESS):
        return 0, None, None
    try:
        record = json.loads(folder.read_text(PROGRESS))
    except (OSError, ValueError, RecursionError) as exc:  # bad JSON or UTF-8, huge ints
        raise StoreError(f"{where}: cannot read the progress record ({brief(exc)}){again}") \
            from None
    if not isinstance(record, dict):
        raise StoreError(f"{where}: expected a JSON object, got {type(record).__name__}{again}")
    n_rows, chunk = writer.meta["n_rows"], writer.meta["chunk_rows"]
    flushed = record.get("flushed_rows")
    if not isinstance(flushed, int) or isinstance(flushed, bool) or not 0 <= flushed <= n_rows:
        raise StoreError(f"{where}: 'flushed_rows' is {flushed!r:.40}, but the store has "
                         f"{n_rows} rows{again}")
    if flushed % chunk and flushed != n_rows:
        raise StoreError(f"{where}: 'flushed_rows' {flushed} is not a whole number of the "
                         f"store's {chunk}-row chunks{again}")
    need = -(-flushed // chunk)  # the chunks holding rows 0 .. flushed
    for key in writer.meta["keys"]:
        have = writer.chunks_written(key)
        if have < need:
            raise StoreError(f"{where}: 'flushed_rows' {flushed} needs {need} chunks of {key} on "
                             f"disk, but {have} are there{again}")
    name = record.get("state_file")
    if name is None:
        return flushed, None, None
    if not (isinstance(name, str) and _STATE_FILE.fullmatch(name)):
        raise StoreError(f"{where}: 'state_file' {name!r:.80} is not one of the store's own "
                         f"state-N.npz files{again}")
    window = record.get("state_window")
    if not isinstance(window, int) or isinstance(window, bool) or f"state-{window}.npz" != name:
        raise StoreError(f"{where}: 'state_window' {window!r:.40} does not match 'state_file' "
                         f"{name!r}{again}")
    try:
        blob = folder.read_bytes(name)
    except OSError as exc:
        raise StoreError(f"{folder.url}/{name}: cannot read the carried state "
                         f"({brief(exc)}){again}") from None
    digest = record.get("state_sha256")
    if digest is not None and digest != hashlib.sha256(blob).hexdigest():
        raise StoreError(f"{folder.url}/{name}: the carried state is damaged (its SHA-256 "
                         f"differs from the one {PROGRESS} recorded){again}")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            flat = [torch.from_numpy(np.array(data[f"s{i}"])) for i in range(len(data.files))]
    except Exception as exc:  # missing, truncated or not an npz (zipfile, OSError, KeyError ...)
        raise StoreError(f"{folder.url}/{name}: cannot read the carried state "
                         f"({type(exc).__name__}: {brief(exc)}){again}") from None
    if not flat:
        return flushed, None, window
    family = model.family
    per_layer = len(family.state)
    shapes = [(1, 1, w) for n in range(1, model.config.num_layers + 1)
              for w in model.config.state_widths(n)]
    if len(flat) != len(shapes) or any(
            tuple(t.shape) != shape or not t.is_floating_point() for t, shape in zip(flat, shapes)):
        raise StoreError(f"{folder.url}/{name}: the carried state does not fit the model "
                         f"({model.config.num_layers} layers of sizes {list(model.config.sizes)}, "
                         f"float tensors){again}")
    w = model.encoder.weight
    flat = [t.to(device=w.device, dtype=w.dtype)[0] for t in flat]  # each [1, H]
    state = [family.pack(flat[per_layer * i:per_layer * (i + 1)]) for i in range(model.config.num_layers)]
    return flushed, state, window


#: The carried-state files an extraction writes into its store (nothing else may be named).
_STATE_FILE = re.compile(r"state-[0-9]{1,9}\.npz")
