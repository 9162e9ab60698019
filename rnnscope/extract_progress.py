"""Resumable, chunk-aligned writing of an extraction: rows are written in whole zarr chunks on a
background thread, and ``progress.json`` (plus the carried state in carry mode) records what
is safely on disk, so an interrupted run resumes with identical results."""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rnnscope.errors import StoreError, brief
from rnnscope.model import RecurrentLM
from rnnscope.store import StoreWriter

PROGRESS = "progress.json"


@dataclass
class Window:
    """A run of consecutive sentences processed together (the unit of work and of resuming)."""

    index: int
    sentences: list[int]   # corpus indices, in order
    start: int             # first row of the window
    stop: int              # one past its last row



# -- bounded, chunk-aligned writing and progress ---------------------------------------------
class ChunkedWriter:
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
        for name in state_files(self.writer):
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


def state_files(writer: StoreWriter) -> list[str]:
    """Names of the carried-state files (``state-N.npz``) in the store being written."""
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


def read_progress(writer: StoreWriter, model: RecurrentLM) -> tuple[int, Any, int | None]:
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
