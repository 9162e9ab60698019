"""The generic sharded job runner: one Dask task per shard, durable, resumable, observable.

A job is a list of :class:`Shard` (a sentence range, a unit range, a (component, feature)
pair, ...) and a shard function ``fn(shard, *args) -> result``. :func:`run_sharded` submits one
task per shard; when a task has returned (so the shard's data, if it writes any, is on disk),
the client records the shard as complete in a :class:`ShardLedger`: the small result (a pandas
table, a dict of numpy arrays, or JSON-able values) first, then a marker file, each written
atomically. Markers are written by the client, so the ledger only needs to be reachable from
the client (any local path or fsspec URL). Hence:

* **resume** — re-running a job skips every shard that has a marker and reads its result back;
* **fault tolerance** — when a worker process dies, its nanny starts a new one and the scheduler
  re-runs the shards that were on it; a shard function must therefore write only into its own,
  distinct chunks (overwriting them is harmless: the same values land in the same place), and a
  shard whose marker exists is never run again, so nothing is written twice or lost (a shard
  whose worker died after writing but before reporting is simply written again, identically);
* **one progress bar** fed by ``distributed.as_completed`` and a per-worker throughput table.

Workers load expensive things (a model from a checkpoint) once per process through
:func:`worker_cached`; objects that only exist in the client's memory go through
:func:`share`, which ships them once per worker.

Dask is imported lazily: importing this module does not need it.
"""
from __future__ import annotations

import io
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rnnscope.distributed.cluster import require_distributed
from rnnscope.errors import RnnscopeError


@dataclass(frozen=True)
class Shard:
    """One unit of distributed work.

    ``name`` must be unique within a job and stable across runs (it names the marker);
    ``payload`` is whatever the shard function needs (``(start, stop)``, ``("layer1.c",
    "upos")``, ...); ``size`` counts its work items (tokens, units, probes) for the progress bar
    and the throughput summary.
    """

    name: str
    payload: Any
    size: int = 1


@dataclass
class ShardReport:
    """What one finished shard reports: where it ran, how long it took, and its result."""

    name: str
    worker: str
    items: int
    seconds: float
    result: Any = None
    resumed: bool = False


# -- durable shard-complete markers ----------------------------------------------------------------
class ShardLedger:
    """Shard-complete markers (and small shard results) in one folder, local or fsspec URL.

    For shard ``name``: ``name.parquet`` (a DataFrame result) or ``name.npz`` (a dict of numpy
    arrays) is written first, then ``name.json`` — the marker — last. Both are written
    atomically (temporary file + rename on local disks; object stores put whole objects), so a
    marker always means the shard's data and result are complete. Never unpickles.
    """

    def __init__(self, root: str | os.PathLike):
        import fsspec  # a dependency of zarr/dask; local paths work without configuration

        self.url = str(root)
        self._fs, self._root = fsspec.core.url_to_fs(self.url)
        self._root = self._root.rstrip("/")
        protocol = self._fs.protocol
        self._local = bool({"file", "local"} & set((protocol,) if isinstance(protocol, str) else protocol))

    def _path(self, name: str) -> str:
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad shard name {name!r}")
        return f"{self._root}/{name}"

    def _write(self, name: str, data: bytes) -> None:
        target = self._path(name)
        self._fs.makedirs(self._root, exist_ok=True)
        if self._local:
            tmp = f"{target}.{uuid.uuid4().hex}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        else:
            self._fs.pipe_file(target, data)

    def _read(self, name: str) -> bytes:
        return self._fs.cat_file(self._path(name))

    def is_done(self, name: str) -> bool:
        """True when shard ``name`` has its marker."""
        return self._fs.exists(self._path(f"{name}.json"))

    def done(self) -> set[str]:
        """Names of all completed shards."""
        if not self._fs.exists(self._root):
            return set()
        names = set()
        for entry in self._fs.ls(self._root, detail=False):
            base = str(entry).rstrip("/").rsplit("/", 1)[-1]
            if base.endswith(".json"):
                names.add(base[: -len(".json")])
        return names

    def mark(self, report: ShardReport) -> None:
        """Persist ``report`` (its result first, the marker last)."""
        result, kind = report.result, "none"
        if isinstance(result, pd.DataFrame):
            buf = io.BytesIO()
            result.to_parquet(buf, index=False)
            self._write(f"{report.name}.parquet", buf.getvalue())
            kind = "frame"
        elif isinstance(result, dict) and result and all(isinstance(v, np.ndarray) for v in result.values()):
            buf = io.BytesIO()
            np.savez(buf, **result)
            self._write(f"{report.name}.npz", buf.getvalue())
            kind = "arrays"
        elif result is not None:
            kind = "json"
        marker = {"name": report.name, "worker": report.worker, "items": report.items,
                  "seconds": report.seconds, "kind": kind,
                  "result": result if kind == "json" else None}
        try:
            text = json.dumps(marker, default=_json_default)
        except TypeError as exc:
            raise RnnscopeError(f"shard {report.name}: result cannot be stored ({exc}); return a "
                                "DataFrame, a dict of numpy arrays, or JSON-able values") from None
        self._write(f"{report.name}.json", text.encode("utf-8"))

    def load(self, name: str) -> ShardReport:
        """The report of a completed shard, its result read back."""
        marker = json.loads(self._read(f"{name}.json"))
        kind, result = marker["kind"], marker.get("result")
        if kind == "frame":
            result = pd.read_parquet(io.BytesIO(self._read(f"{name}.parquet")))
        elif kind == "arrays":
            with np.load(io.BytesIO(self._read(f"{name}.npz")), allow_pickle=False) as npz:
                result = {k: npz[k] for k in npz.files}
        return ShardReport(name=marker["name"], worker=marker["worker"], items=marker["items"],
                           seconds=marker["seconds"], result=result, resumed=True)

    def clear(self) -> None:
        """Remove the ledger folder (after the job's output has been finalized)."""
        if self._fs.exists(self._root):
            self._fs.rm(self._root, recursive=True)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


# -- worker-local state ------------------------------------------------------------------------------
_CACHE: dict[Hashable, Any] = {}
#: How many times each cache key was built in this process (tests check "loaded once").
LOADS: dict[Hashable, int] = {}


def worker_cached(key: Hashable, factory: Callable[[], Any]) -> Any:
    """``factory()`` built once per worker process and kept for later shards (keyed by ``key``)."""
    if key not in _CACHE:
        _CACHE[key] = factory()
        LOADS[key] = LOADS.get(key, 0) + 1
    return _CACHE[key]


def load_model_cached(path: str | os.PathLike, trust_pickle: bool = False) -> tuple:
    """``rnnscope.checkpoint.load_model(path)`` once per worker process (keyed by path + mtime)."""
    from rnnscope.checkpoint import load_model

    p = Path(path).resolve()
    try:
        stamp = max(f.stat().st_mtime_ns for f in ([p] + (list(p.iterdir()) if p.is_dir() else [])))
    except OSError:
        stamp = 0
    return worker_cached(("model", str(p), stamp, trust_pickle),
                         lambda: load_model(p, trust_pickle=trust_pickle))


def share(client: Any, obj: Any) -> Any:
    """A future holding ``obj`` that tasks can take as an argument; each worker unpickles it once.

    Unlike ``client.scatter`` the object is kept in the task itself, so the scheduler can
    recompute it on another worker if the worker holding it dies.
    """
    return client.submit(_identity, obj, key=f"shared-{type(obj).__name__}-{uuid.uuid4().hex[:8]}")


def _identity(obj: Any) -> Any:
    return obj


def model_handle(client: Any, model: Any) -> Any:
    """What shard functions get for ``model``: a checkpoint path (each worker loads it once,
    see :func:`load_model_cached`) or, for a model object, a :func:`share` future of its
    weights (Dask's generic ``nn.Module`` serialiser chokes on recurrent layers, so the
    module itself is never shipped)."""
    if isinstance(model, (str, os.PathLike)):
        return ("checkpoint", absolute(model))
    weights = {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}
    return share(client, ModelBlob(type(model), model.config.to_dict(), weights, uuid.uuid4().hex))


def absolute(path: str | os.PathLike) -> str:
    """``path`` made absolute on the client (workers may run elsewhere); URLs unchanged."""
    text = str(path)
    return text if "://" in text else os.path.abspath(text)


def resolve_model(handle: Any) -> Any:
    """The model behind a :func:`model_handle`, inside a shard function (built once per worker)."""
    if isinstance(handle, ModelBlob):
        return worker_cached(("model-blob", handle.token), handle.build)
    if isinstance(handle, tuple) and len(handle) == 2 and handle[0] == "checkpoint":
        return load_model_cached(handle[1])[0]
    return handle


@dataclass(frozen=True)
class ModelBlob:
    """A model as plain data: its class, config and weights (numpy), plus a unique token."""

    cls: type
    config: dict
    weights: dict[str, np.ndarray]
    token: str

    def build(self) -> Any:
        import torch

        from rnnscope.model import ModelConfig

        model = self.cls(ModelConfig.from_dict(self.config))
        first = next(iter(self.weights.values()), None)
        if first is not None and first.dtype == np.float64:  # a float64 copy stays float64
            model = model.double()
        model.load_state_dict({k: torch.from_numpy(v) for k, v in self.weights.items()})
        return model.eval()


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def _execute(fn: Callable, shard: Shard, args: tuple, kwargs: dict) -> ShardReport:
    """Run one shard on a worker and report where and how fast."""
    start = time.perf_counter()
    result = fn(shard, *args, **kwargs)
    return ShardReport(name=shard.name, worker=_worker_name(), items=shard.size,
                       seconds=time.perf_counter() - start, result=result)


# -- the runner ------------------------------------------------------------------------------------------
@dataclass
class ShardRun:
    """The outcome of :func:`run_sharded`: one report per shard, in shard order."""

    reports: list[ShardReport]
    wall_seconds: float
    unit: str = "items"
    _by_name: dict[str, ShardReport] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {r.name: r for r in self.reports}

    @property
    def results(self) -> list[Any]:
        """Shard results in the order the shards were given."""
        return [r.result for r in self.reports]

    def result(self, name: str) -> Any:
        return self._by_name[name].result

    @property
    def table(self) -> pd.DataFrame:
        """Per worker: shards, items, busy seconds and items per busy second (this run only).

        Shards completed by an earlier run are counted in one ``(resumed)`` row.
        """
        rows = {}
        for r in self.reports:
            worker = "(resumed)" if r.resumed else r.worker
            row = rows.setdefault(worker, {"worker": worker, "shards": 0, self.unit: 0, "seconds": 0.0})
            row["shards"] += 1
            row[self.unit] += r.items
            row["seconds"] += 0.0 if r.resumed else r.seconds
        table = pd.DataFrame(list(rows.values()), columns=["worker", "shards", self.unit, "seconds"])
        busy = table["seconds"].where(table["seconds"] > 0)
        table[f"{self.unit}_per_s"] = table[self.unit] / busy
        return table.sort_values("worker", kind="stable").reset_index(drop=True)

    def summary(self) -> str:
        """A few lines for the terminal: the per-worker table and the overall throughput."""
        done = sum(r.items for r in self.reports if not r.resumed)
        rate = done / self.wall_seconds if self.wall_seconds > 0 else float("nan")
        lines = [self.table.to_string(index=False, float_format=lambda v: f"{v:,.1f}"),
                 f"total: {done:,} {self.unit} in {self.wall_seconds:.1f} s "
                 f"({rate:,.1f} {self.unit}/s overall)"]
        resumed = sum(r.resumed for r in self.reports)
        if resumed:
            lines.append(f"{resumed} shard(s) were already complete and were not re-run")
        return "\n".join(lines)


def run_sharded(fn: Callable, shards: Sequence[Shard], *, client: Any = None,
                ledger: ShardLedger | str | os.PathLike | None = None, args: tuple = (),
                kwargs: dict | None = None, desc: str = "shards", unit: str = "items",
                progress: bool | None = None) -> ShardRun:
    """Run ``fn(shard, *args, **kwargs)`` for every shard on a Dask cluster; see the module doc.

    ``client`` defaults to the current ``distributed`` client. With a ``ledger`` (a folder or
    URL), shards already marked complete are skipped and their results read back; new shards
    are marked as they finish. ``progress=None`` shows the bar only on a terminal.
    A shard that keeps killing its workers (Dask's ``allowed-failures``) raises
    :class:`RnnscopeError` naming it; completed shards stay marked for the next run.
    """
    distributed = require_distributed()
    names = [s.name for s in shards]
    if len(set(names)) != len(names):
        raise ValueError("shard names must be unique within a job")
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            raise RnnscopeError("no Dask client: use rnnscope.distributed.cluster.connect()") from None
    if ledger is not None and not isinstance(ledger, ShardLedger):
        ledger = ShardLedger(ledger)
    kwargs = dict(kwargs or {})
    start = time.perf_counter()
    done = ledger.done() if ledger is not None else set()
    reports = {n: ledger.load(n) for n in names if n in done} if ledger is not None else {}
    todo = [s for s in shards if s.name not in reports]

    from tqdm.auto import tqdm

    bar = tqdm(total=sum(s.size for s in shards), initial=sum(r.items for r in reports.values()),
               desc=desc, unit=f" {unit}", disable=(None if progress is None else not progress),
               dynamic_ncols=True)
    tag = uuid.uuid4().hex[:8]
    futures = {client.submit(_execute, fn, s, args, kwargs, key=f"{desc}-{s.name}-{tag}",
                             pure=False): s for s in todo}
    workers: set[str] = set()
    try:
        for future in distributed.as_completed(list(futures)):
            shard = futures[future]
            try:
                report = future.result()
            except distributed.KilledWorker:
                raise RnnscopeError(f"shard {shard.name} was running on every worker that died "
                                    "(it may exhaust memory or crash the process); completed "
                                    "shards are kept, re-run to resume") from None
            if ledger is not None:  # the shard's data is written: mark it complete
                ledger.mark(report)
            reports[shard.name] = report
            workers.add(report.worker)
            bar.update(report.items)
            bar.set_postfix(workers=len(workers), refresh=False)
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        bar.close()
    return ShardRun([reports[n] for n in names], time.perf_counter() - start, unit=unit)


def row_shards(n_rows: int, rows_per_shard: int, align: int = 1, prefix: str = "rows") -> list[Shard]:
    """Split ``0..n_rows`` into ranges of about ``rows_per_shard``, boundaries multiples of ``align``.

    With ``align`` = the zarr chunk size, each shard owns whole chunks and can write without
    coordination. Names encode the range, so a re-run with the same split finds its markers.
    """
    if n_rows < 0 or rows_per_shard < 1 or align < 1:
        raise ValueError("n_rows >= 0, rows_per_shard >= 1 and align >= 1 required")
    step = max(align, (rows_per_shard // align) * align)
    width = len(str(n_rows))
    return [Shard(f"{prefix}-{s:0{width}d}-{min(s + step, n_rows):0{width}d}", (s, min(s + step, n_rows)),
                  size=min(s + step, n_rows) - s)
            for s in range(0, n_rows, step)]


# -- naming a job, for resuming it -----------------------------------------------------------------
def fingerprint(*parts: Any) -> str:
    """A short hash of everything that determines a job's result (models, arrays, settings).

    Models (anything with ``state_dict``) hash their weights; numpy arrays and tensors their
    bytes; everything else its JSON (or ``repr``). Used to name a job's ledger, so a re-run of
    the *same* job finds its completed shards and a different job never does.
    """
    import hashlib

    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if hasattr(x, "state_dict"):
            for name, t in sorted(x.state_dict().items()):
                h.update(name.encode())
                feed(t)
        elif hasattr(x, "detach"):
            h.update(x.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(x, np.ndarray):
            h.update(str(x.dtype).encode() + str(x.shape).encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for y in x:
                feed(y)
            h.update(b"]")
        else:
            try:
                h.update(json.dumps(x, sort_keys=True, default=str).encode())
            except TypeError:
                h.update(repr(x).encode())
        h.update(b"|")

    for part in parts:
        feed(part)
    return h.hexdigest()[:20]


def default_ledger(job: str, key: str) -> str:
    """Where a job keeps its shard markers unless told otherwise.

    ``$RNNSCOPE_SHARDS/<job>-<key>`` (default ``~/.cache/rnnscope/shards``); only the client
    reads and writes it.
    """
    base = os.environ.get("RNNSCOPE_SHARDS") or os.path.join(os.path.expanduser("~"), ".cache",
                                                              "rnnscope", "shards")
    return os.path.join(base, f"{job}-{key}")
