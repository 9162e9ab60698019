"""The activation store: every recorded component of a model over a corpus, on disk.

A store is a folder (a local path or any fsspec URL, e.g. ``s3://bucket/run``) holding::

    arrays.zarr/     one zarr 3 array per key ``layer{n}.{comp}``, shape [rows, H],
                     float16 (default) or float32, chunked by rows, read lazily
    tokens.parquet   the token table: one row per stored unit (see below)
    meta.json        model config, vocab kind, components, dtype, reset mode, corpus, rows
    COMPLETE         written last; a folder without it is refused by :meth:`ActivationStore.open`

Row ``r`` of every array belongs to row ``r`` of the token table, in corpus order
(sentence, position). Token table columns: ``sentence``, ``position``, ``token``, ``word``,
``word_index`` (-1 for separators of char/byte models), ``is_word_end``, then annotations
(``upos``, ``xpos``, ``deprel``, ``head``, ``depth``, ... and one column per FEATS key).

Writing goes through :class:`StoreWriter`: the arrays are preallocated at their final size and
filled by row ranges, so memory stays bounded, and writers that own distinct chunks of rows
(:meth:`StoreWriter.chunk_bounds`) may write concurrently from different processes or machines —
zarr stores each chunk as its own object. Only :meth:`StoreWriter.finalize` writes the token
table, the final meta and the ``COMPLETE`` marker.

>>> import numpy as np, pandas as pd, tempfile
>>> tokens = pd.DataFrame({"sentence": [0, 0], "position": [0, 1], "token": ["a", "b"],
...                        "word": ["a", "b"], "word_index": [0, 1], "is_word_end": [True, True],
...                        "upos": ["DET", "NOUN"]})
>>> store = ActivationStore.from_arrays(tempfile.mkdtemp() + "/s",
...                                     {"layer1.h": np.eye(2, 3)}, tokens)
>>> store.select("layer1.h", upos="NOUN")
array([[0., 1., 0.]], dtype=float32)
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import zarr
from zarr.codecs import ZstdCodec

from rnnscope.errors import RnnscopeError, StoreError, brief
from rnnscope.keys import parse_key

FORMAT = "rnnscope-store-1"
ARRAYS = "arrays.zarr"
TOKENS = "tokens.parquet"
META = "meta.json"
COMPLETE = "COMPLETE"
DTYPES = ("float16", "float32")
DEFAULT_CHUNK_ROWS = 4096
COMPRESSIONS = (None, "zstd")
#: Columns every token table has, in this order; annotations follow.
TOKEN_COLUMNS = ("sentence", "position", "token", "word", "word_index", "is_word_end")


# -- a folder on any fsspec filesystem --------------------------------------------------------
class _Folder:
    """A folder on a local disk or behind an fsspec URL, with the few file operations we need."""

    def __init__(self, path: Any):
        self.url = str(path)
        if self.url.startswith("file://"):  # zarr's fsspec store does not create local folders
            self.url = self.url[len("file://"):]
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
        except (ValueError, ImportError) as exc:  # unknown protocol, or its package missing
            raise StoreError(f"{self.url}: cannot open this location ({str(exc).splitlines()[0]})") from None
        self.root = self.root.rstrip("/")

    def sub(self, name: str) -> str:
        return f"{self.root}/{name}"

    def url_of(self, name: str) -> str:
        """URL of a child, as zarr and pandas accept it (plain path when local)."""
        if "://" in self.url:
            return f"{self.url.rstrip('/')}/{name}"
        return self.sub(name)

    def exists(self, name: str | None = None) -> bool:
        return self.fs.exists(self.sub(name) if name else self.root)

    def is_empty(self) -> bool:
        return not self.exists() or not self.fs.ls(self.root)

    def read_text(self, name: str) -> str:
        with self.fs.open(self.sub(name), "r", encoding="utf-8") as fh:
            return fh.read()

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open(self.sub(name), "rb") as fh:
            return fh.read()

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write a small binary file, atomically where the filesystem can rename."""
        self.fs.makedirs(self.root, exist_ok=True)
        target = self.sub(name)
        if {"file", "local"} & set(_protocols(self.fs)):
            with self.fs.open(f"{target}.tmp", "wb") as fh:
                fh.write(data)
            self.fs.mv(f"{target}.tmp", target)
        else:
            with self.fs.open(target, "wb") as fh:
                fh.write(data)

    def write_text(self, name: str, text: str) -> None:
        """Write a small text file atomically where the filesystem can rename (local disk)."""
        self.write_bytes(name, text.encode("utf-8"))

    def remove(self, name: str) -> None:
        if self.exists(name):
            self.fs.rm(self.sub(name), recursive=True)

    def remove_all(self) -> None:
        if self.exists():
            self.fs.rm(self.root, recursive=True)


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def check_dtype(dtype: str) -> str:
    dtype = np.dtype(dtype).name
    if dtype not in DTYPES:
        raise StoreError(f"store dtype must be float16 or float32, got {dtype}")
    return dtype


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} in meta.json")


# -- reading -------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_meta(folder: _Folder) -> dict:
    """The parsed, checked ``meta.json`` of a store: a :class:`StoreError` naming the file and
    the key at fault for anything unreadable or inconsistent (so nothing fails later on it)."""
    where = f"{folder.url}/{META}"
    try:
        meta = json.loads(folder.read_text(META))
    except UnicodeDecodeError as exc:
        raise StoreError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON, huge ints
        raise StoreError(f"{where}: cannot read store meta ({brief(exc)})") from None
    if not isinstance(meta, dict):
        raise StoreError(f"{where}: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise StoreError(f"{where}: 'format' is {meta.get('format')!r}, not {FORMAT!r}")
    for name in ("n_rows", "hidden_size", "chunk_rows"):
        value = meta.get(name)
        if not _is_int(value) or value < 1:
            raise StoreError(f"{where}: {name!r} must be a positive integer, got {value!r}")
    if meta.get("dtype") not in DTYPES:
        raise StoreError(f"{where}: 'dtype' must be one of {', '.join(DTYPES)}, "
                         f"got {meta.get('dtype')!r}")
    keys = meta.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise StoreError(f"{where}: 'keys' must be a non-empty list of component keys, "
                         f"got {keys!r:.80}")
    for k in keys:
        try:
            parse_key(k)
        except RnnscopeError as exc:
            raise StoreError(f"{where}: 'keys': {exc}") from None
    if len(set(keys)) != len(keys):
        raise StoreError(f"{where}: 'keys' lists a component twice")
    widths = meta.get("widths", {})
    if not isinstance(widths, dict) or any(k not in keys or not _is_int(w) or w < 1
                                           for k, w in widths.items()):
        raise StoreError(f"{where}: 'widths' must map stored keys to positive unit counts, "
                         f"got {widths!r:.80}")
    digest = meta.get("tokens_sha256")
    if digest is not None and not isinstance(digest, str):
        raise StoreError(f"{where}: 'tokens_sha256' must be a hex digest, got {digest!r:.80}")
    return meta


def _width(meta: dict, key: str) -> int:
    """Units of ``key``: its entry in ``widths`` (layers of different sizes), else hidden_size."""
    return int(meta.get("widths", {}).get(key, meta["hidden_size"]))


def _open_arrays(folder: _Folder, meta: dict, mode: str) -> zarr.Group:
    """The zarr group of a store, every key of ``meta`` checked to be an array [n_rows, H]."""
    where = f"{folder.url}/{ARRAYS}"
    try:
        group = zarr.open_group(folder.url_of(ARRAYS), mode=mode)
        shapes = {}
        for k in meta["keys"]:
            try:
                arr = group[k]
            except KeyError:
                shapes[k] = (None, None, None)
                continue
            shapes[k] = (tuple(arr.shape), int(arr.chunks[0]), np.dtype(arr.dtype).name)
    except Exception as exc:  # zarr raises many kinds of errors on damaged metadata
        raise StoreError(f"{where}: cannot open the arrays ({type(exc).__name__}: "
                         f"{brief(exc)})") from None
    for k, (shape, chunks, dtype) in shapes.items():
        if shape is None:
            raise StoreError(f"{where}: no array {k!r}, which {META} lists")
        want = (meta["n_rows"], _width(meta, k))
        if shape != want:
            raise StoreError(f"{where}: array {k!r} has shape {shape} but {META} says "
                             f"{want} (n_rows, hidden_size)")
        if dtype != meta["dtype"] or chunks != meta["chunk_rows"]:
            raise StoreError(f"{where}: array {k!r} holds {dtype} in chunks of {chunks} rows but "
                             f"{META} says {meta['dtype']} in chunks of {meta['chunk_rows']}")
    return group


def _read_tokens(folder: _Folder, meta: dict) -> pd.DataFrame:
    """The token table of a store, checked against its meta (digest, rows, columns)."""
    where = f"{folder.url}/{TOKENS}"
    try:
        data = folder.read_bytes(TOKENS)
    except OSError as exc:
        raise StoreError(f"{where}: cannot read the token table ({brief(exc)})") from None
    digest = meta.get("tokens_sha256")
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise StoreError(f"{where}: the token table is damaged (its SHA-256 differs from the one "
                         f"{META} recorded)")
    try:
        tokens = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... on damaged files
        raise StoreError(f"{where}: cannot read the token table ({type(exc).__name__}: "
                         f"{brief(exc)})") from None
    if len(tokens) != meta["n_rows"]:
        raise StoreError(f"{where}: the token table has {len(tokens)} rows but {META} says "
                         f"{meta['n_rows']}")
    missing = [c for c in TOKEN_COLUMNS if c not in tokens.columns]
    if missing:
        raise StoreError(f"{where}: the token table lacks column(s) {', '.join(missing)}")
    return tokens


# -- one writer at a time -------------------------------------------------------------------------
def _lock_paths(path: Any) -> tuple[Path, Path] | None:
    """``(lock file, pid file)`` beside a local store folder (``None`` for remote URLs).

    They live next to the folder, not in it, so replacing the store never deletes its lock.
    """
    folder = _Folder(path)
    if not {"file", "local"} & set(_protocols(folder.fs)):
        return None
    root = Path(folder.root)
    return (root.with_name(f".{root.name}.lock"), root.with_name(f".{root.name}.lock.pid"))


def writing_pid(path: Any) -> int | None:
    """The pid of the process writing the store at ``path`` now, or ``None``."""
    from filelock import FileLock, Timeout

    paths = _lock_paths(path)
    if paths is None or not paths[0].exists():
        return None
    probe = FileLock(str(paths[0]), timeout=0, is_singleton=False)
    try:
        probe.acquire()
    except Timeout:
        try:
            return int(paths[1].read_text().strip())
        except (OSError, ValueError):
            return -1
    probe.release()
    return None


@contextmanager
def writer_lock(path: Any) -> Iterator[None]:
    """Hold the exclusive write lock of the store at ``path`` (local disks; a no-op elsewhere).

    A second writer gets a :class:`StoreError` naming the holder's pid at once (it does not
    wait). The lock is an OS file lock (``filelock``): it is released when the holder exits,
    even when it is killed, so a crash never leaves a store locked.
    """
    from filelock import FileLock, Timeout

    paths = _lock_paths(path)
    if paths is None:
        yield
        return
    lock_file, pid_file = paths
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file), timeout=0, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        try:
            holder = pid_file.read_text().strip()
        except OSError:
            holder = "unknown"
        raise StoreError(f"{path} is being written by another rnnscope process (pid {holder}); "
                         "wait for it to finish or choose another --out") from None
    try:
        pid_file.write_text(f"{os.getpid()}\n")
        yield
    finally:
        pid_file.unlink(missing_ok=True)
        lock.release()


class ActivationStore:
    """A finished store, read lazily: ``store["layer1.c"]`` is a zarr array [rows, H]."""

    def __init__(self, folder: _Folder, meta: dict, group: zarr.Group):
        self._folder = folder
        self._meta = meta
        self._group = group
        self._tokens: pd.DataFrame | None = None
        self._means: dict[str, np.ndarray] = {}

    # construction ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Any) -> ActivationStore:
        """Open a finished store; :class:`StoreError` if it is missing or was never completed."""
        folder = _Folder(path)
        if not folder.exists() or not folder.exists(META):
            raise StoreError(f"no activation store at {folder.url}")
        if not folder.exists(COMPLETE):
            pid = writing_pid(path)
            if pid is not None:
                raise StoreError(f"activation store {folder.url} is being written now (pid {pid}); "
                                 "open it when that extraction has finished")
            raise StoreError(f"activation store {folder.url} is incomplete (interrupted?); "
                             "re-run the extraction with --resume")
        meta = read_meta(folder)
        return cls(folder, meta, _open_arrays(folder, meta, mode="r"))

    @classmethod
    def from_arrays(cls, path: Any, arrays: Mapping[str, np.ndarray], tokens: pd.DataFrame,
                    meta: dict | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    overwrite: bool = False) -> ActivationStore:
        """Build a store from numpy arrays ``{key: [rows, H]}`` and a token table.

        Handy for tests with planted signals. ``meta["dtype"]`` picks the storage dtype
        (default: float16 when every array is float16, else float32, so values round-trip).
        """
        if not arrays:
            raise StoreError("from_arrays needs at least one array")
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        if any(v.ndim != 2 for v in arrays.values()):
            raise StoreError("every array must be 2-D [rows, units]")
        sizes = {k: int(v.shape[1]) for k, v in arrays.items()}
        for k, v in arrays.items():
            if len(v) != len(tokens):
                raise StoreError(f"array {k} has {len(v)} rows but the token table has {len(tokens)}")
        meta = dict(meta or {})
        if "dtype" not in meta:
            all16 = all(v.dtype == np.float16 for v in arrays.values())
            meta["dtype"] = "float16" if all16 else "float32"
        writer = StoreWriter.create(path, n_rows=len(tokens), keys=list(arrays),
                                    hidden_size=sizes, dtype=meta["dtype"],
                                    chunk_rows=chunk_rows, meta=meta, overwrite=overwrite)
        for k, v in arrays.items():
            writer.write(k, 0, v)
        return writer.finalize(tokens)

    # contents ------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._folder.url

    @property
    def meta(self) -> dict:
        """Model config, vocab kind, components, dtype, reset mode, corpus name, row count."""
        return self._meta

    def keys(self) -> list[str]:
        """Stored keys in model order (``layer1.h``, ``layer1.c``, ...)."""
        return list(self._meta.get("keys") or sorted(self._group.array_keys()))

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        """Number of rows (stored units)."""
        return int(self._meta["n_rows"])

    @property
    def hidden_size(self) -> int:
        """Units per key (the widest key's, when layers differ in size: see :meth:`width`)."""
        return int(self._meta["hidden_size"])

    def width(self, key: str) -> int:
        """Units of ``key`` (layers of one model may differ in size)."""
        return _width(self._meta, key)

    @property
    def dtype(self) -> str:
        return self._meta["dtype"]

    @property
    def tokens(self) -> pd.DataFrame:
        """The token table (read once, then cached), checked against the meta: its digest
        (stores written since ``tokens_sha256`` was recorded), row count and columns."""
        if self._tokens is None:
            self._tokens = _read_tokens(self._folder, self._meta)
        return self._tokens

    def __getitem__(self, key: str) -> zarr.Array:
        """The lazy array of ``key``; slicing or ``np.asarray`` reads it (in its stored dtype)."""
        if key not in self.keys():
            parse_key(key)  # a malformed key gets the format message
            raise StoreError(f"store {self.path} has no {key!r}; it holds {', '.join(self.keys())}")
        return self._group[key]

    def get(self, key: str, rows: np.ndarray | slice | Iterable[int] | None = None) -> np.ndarray:
        """``key`` as float32 numpy, all rows or ``rows`` (boolean mask or integer index)."""
        arr = self[key]
        if rows is None:
            out = arr[...]
        elif isinstance(rows, slice):
            out = arr[rows]
        else:
            idx = np.asarray(rows)
            if idx.dtype == bool:
                if len(idx) != len(self):
                    raise StoreError(f"row mask has {len(idx)} entries but the store has {len(self)} rows")
                idx = np.flatnonzero(idx)
            idx = idx.astype(np.int64).ravel()
            if len(idx) == 0:
                return np.zeros((0, arr.shape[1]), dtype=np.float32)
            idx = np.where(idx < 0, idx + len(self), idx)
            out = arr.oindex[idx, :]
        return np.asarray(out, dtype=np.float32)

    def mask(self, **filters: Any) -> np.ndarray:
        """Boolean row mask where every ``column=value`` filter holds.

        A value may be a scalar (equality), a list/tuple/set (membership), or a callable taking
        the column (a pandas Series) and returning a boolean mask.
        """
        table = self.tokens
        mask = np.ones(len(table), dtype=bool)
        for column, value in filters.items():
            if column not in table.columns:
                raise StoreError(f"token table has no column {column!r}; it has "
                                 f"{', '.join(map(str, table.columns))}")
            col = table[column]
            if callable(value):
                hit = np.asarray(value(col), dtype=bool)
            elif isinstance(value, (list, tuple, set, frozenset)):
                hit = col.isin(list(value)).to_numpy()
            else:
                hit = (col == value).to_numpy(dtype=bool, na_value=False)
            mask &= hit
        return mask

    def select(self, key: str, **filters: Any) -> np.ndarray:
        """Rows of ``key`` (float32) whose tokens match ``filters``, e.g. ``upos="NOUN"``."""
        return self.get(key, self.mask(**filters))

    def mean(self, key: str) -> np.ndarray:
        """Mean activation of every unit of ``key`` over all rows (float32 [H]); cached.

        Used for "mean" interventions. Computed chunk by chunk in float64.
        """
        if key not in self._means:
            arr = self[key]
            total = np.zeros(arr.shape[1], dtype=np.float64)
            step = arr.chunks[0]
            for start in range(0, arr.shape[0], step):
                total += np.asarray(arr[start:start + step], dtype=np.float64).sum(axis=0)
            self._means[key] = (total / max(arr.shape[0], 1)).astype(np.float32)
        return self._means[key]

    def iter_chunks(self, key: str) -> Iterable[tuple[int, np.ndarray]]:
        """``(start_row, float32 block)`` for each row chunk of ``key``, for streaming analyses."""
        arr = self[key]
        step = arr.chunks[0]
        for start in range(0, arr.shape[0], step):
            yield start, np.asarray(arr[start:start + step], dtype=np.float32)

    def __repr__(self) -> str:
        return (f"ActivationStore({self.path!r}, rows={len(self)}, hidden={self.hidden_size}, "
                f"keys={self.keys()}, dtype={self.dtype})")

    def info(self) -> str:
        """A few human-readable lines describing the store (used by ``rnnscope store-info``)."""
        m = self._meta
        model = m.get("model") or {}
        lines = [f"store       {self.path}",
                 f"rows        {len(self)}  (sentences: {m.get('n_sentences', '?')})",
                 f"corpus      {m.get('corpus', '?')}",
                 f"model       {model.get('cell', '?')} {model.get('num_layers', '?')}x"
                 f"{model.get('hidden_size', self.hidden_size)}  vocab {m.get('vocab_kind', '?')}",
                 f"dtype       {self.dtype}  chunk rows {m.get('chunk_rows', '?')}  "
                 f"compression {m.get('compression') or 'none'}",
                 f"reset       {m.get('reset', '?')}",
                 f"keys        {', '.join(self.keys())}",
                 f"columns     {', '.join(map(str, self.tokens.columns))}"]
        return "\n".join(lines)


# -- writing -------------------------------------------------------------------------------------
class StoreWriter:
    """Creates a store's preallocated arrays, fills them by row ranges, then finalizes it.

    Several writers (processes, machines) may fill one store concurrently as long as each owns
    whole chunks: use :meth:`chunk_bounds` to split work. Within one writer, any row range works
    (a partial chunk is read, merged and rewritten by zarr).
    """

    def __init__(self, folder: _Folder, meta: dict, group: zarr.Group):
        self._folder = folder
        self.meta = meta
        self._group = group

    @classmethod
    def create(cls, path: Any, n_rows: int, keys: list[str], hidden_size: "int | Mapping[str, int]",
               dtype: str = "float16", chunk_rows: int = DEFAULT_CHUNK_ROWS,
               meta: dict | None = None, overwrite: bool = False,
               compression: str | None = None) -> StoreWriter:
        """Preallocate arrays ``[n_rows, hidden_size]`` for ``keys`` in a new store folder.

        ``hidden_size``: units of every key, or ``{key: units}`` when layers differ in size.

        Refuses an existing non-empty folder unless ``overwrite``; even then only an activation
        store (a folder with our ``meta.json``) is deleted and replaced, never a file or a
        folder of other files (see :func:`check_replaceable`).
        ``compression="zstd"`` compresses chunks (zstd level 1: gates shrink to ~62%, h/c/g only
        to ~92%, at 130-340 MB/s per core here); the default stores them raw, which keeps
        extraction as fast as the model.
        """
        if compression not in COMPRESSIONS:
            raise StoreError(f"compression must be one of {', '.join(map(str, COMPRESSIONS))}, "
                             f"got {compression!r}")
        folder = _Folder(path)
        if not folder.is_empty():
            if not overwrite:
                state = "complete" if folder.exists(COMPLETE) else "incomplete"
                raise StoreError(f"{folder.url} already exists ({state} store or other files); "
                                 "choose another folder or overwrite it")
            check_replaceable(path)
            folder.remove_all()
        for k in keys:
            parse_key(k)
        dtype = check_dtype(dtype)
        if n_rows < 1:
            raise StoreError("a store needs at least one row (is the corpus empty?)")
        chunk_rows = max(1, min(int(chunk_rows), n_rows))
        import uuid

        widths = ({k: int(hidden_size[k]) for k in keys} if isinstance(hidden_size, Mapping)
                  else {k: int(hidden_size) for k in keys})
        if any(w < 1 for w in widths.values()):
            raise StoreError("every key needs at least one unit")
        widest = max(widths.values())
        meta = {**{k: v for k, v in (meta or {}).items() if k != "widths"},
                "format": FORMAT, "generation": uuid.uuid4().hex,
                "keys": list(keys), "n_rows": int(n_rows),
                "hidden_size": widest, "dtype": dtype, "chunk_rows": chunk_rows,
                "compression": compression}
        if len(set(widths.values())) > 1:
            meta["widths"] = widths
        folder.fs.makedirs(folder.root, exist_ok=True)
        group = zarr.open_group(folder.url_of(ARRAYS), mode="w")
        for k in keys:
            group.create_array(k, shape=(n_rows, widths[k]), chunks=(chunk_rows, widths[k]),
                               dtype=dtype, fill_value=0.0,
                               compressors=[ZstdCodec(level=1)] if compression else None)
        folder.write_text(META, json.dumps(meta, indent=2, default=_json_default))
        return cls(folder, meta, group)

    @classmethod
    def reopen(cls, path: Any) -> StoreWriter:
        """Continue filling an incomplete store (for resuming an interrupted extraction)."""
        folder = _Folder(path)
        if not folder.exists(META) or not folder.exists(ARRAYS):
            raise StoreError(f"no store to resume at {folder.url}")
        if folder.exists(COMPLETE):
            raise StoreError(f"store {folder.url} is already complete")
        meta = read_meta(folder)
        return cls(folder, meta, _open_arrays(folder, meta, mode="r+"))

    @property
    def path(self) -> str:
        return self._folder.url

    @property
    def folder(self) -> _Folder:
        return self._folder

    def chunks_written(self, key: str) -> int:
        """How many row chunks of ``key`` are on disk (an all-zero chunk is never written)."""
        return int(self._group[key].nchunks_initialized)

    def chunk_bounds(self) -> list[tuple[int, int]]:
        """``(start, stop)`` row range of every chunk: the unit of safe concurrent writing."""
        n, step = self.meta["n_rows"], self.meta["chunk_rows"]
        return [(s, min(s + step, n)) for s in range(0, n, step)]

    def write(self, key: str, start: int, values: np.ndarray) -> None:
        """Write ``values [n, H]`` into rows ``start .. start+n`` of ``key``."""
        arr = self._group[key]
        values = np.asarray(values)
        if values.ndim != 2 or values.shape[1] != arr.shape[1]:
            raise StoreError(f"{key}: expected rows of {arr.shape[1]} units, got shape {values.shape}")
        if start < 0 or start + len(values) > arr.shape[0]:
            raise StoreError(f"{key}: rows {start}..{start + len(values)} outside 0..{arr.shape[0]}")
        arr[start:start + len(values)] = values.astype(arr.dtype, copy=False)

    def finalize(self, tokens: pd.DataFrame, meta_update: dict | None = None) -> ActivationStore:
        """Write the token table and final meta, then the ``COMPLETE`` marker (last)."""
        if len(tokens) != self.meta["n_rows"]:
            raise StoreError(f"token table has {len(tokens)} rows but the store has {self.meta['n_rows']}")
        missing = [c for c in TOKEN_COLUMNS if c not in tokens.columns]
        if missing:
            raise StoreError(f"token table lacks column(s) {', '.join(missing)}")
        self.meta.update(meta_update or {})
        tokens = tokens.reset_index(drop=True)
        buf = io.BytesIO()
        tokens.to_parquet(buf, index=False)
        data = buf.getvalue()
        self._folder.write_bytes(TOKENS, data)
        self.meta["tokens_sha256"] = hashlib.sha256(data).hexdigest()
        self._folder.write_text(META, json.dumps(self.meta, indent=2, default=_json_default))
        self._folder.write_text(COMPLETE, "complete\n")
        return ActivationStore.open(self._folder.url)


def store_generation(path: Any) -> str:
    """An id that changes whenever the store at ``path`` is rewritten (a digest of its meta,
    which carries a random ``generation`` for stores written since it was introduced)."""
    import hashlib

    folder = _Folder(path)
    try:
        return hashlib.sha1(folder.read_bytes(META)).hexdigest()
    except (OSError, FileNotFoundError):
        return ""


def is_complete(path: Any) -> bool:
    """True when ``path`` holds a finished store."""
    folder = _Folder(path)
    return folder.exists(COMPLETE) and folder.exists(META)


def check_replaceable(path: Any) -> None:
    """StoreError unless ``path`` is missing, an empty folder, or an activation store.

    ``--overwrite`` deletes recursively; this is what keeps it from deleting a corpus file or a
    folder of unrelated files given as ``--out`` by mistake. Nothing is deleted here.
    """
    folder = _Folder(path)
    if not folder.exists():
        return
    if not folder.fs.isdir(folder.root):
        raise StoreError(f"{folder.url} is a file, not an activation store; --overwrite replaces "
                         "only a store or an empty folder (nothing was deleted)")
    if folder.is_empty():
        return
    ok = False
    if folder.exists(META):
        try:
            ok = json.loads(folder.read_text(META)).get("format") == FORMAT
        except (ValueError, AttributeError, UnicodeDecodeError, OSError):
            ok = False
    if not ok:
        names = sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in folder.fs.ls(folder.root))
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise StoreError(f"{folder.url} is not an activation store (it holds {shown}); "
                         "--overwrite replaces only a store or an empty folder (nothing was deleted)")


def store_state(path: Any) -> str:
    """``"missing"`` (absent or empty folder), ``"complete"``, ``"incomplete"`` or ``"other"``."""
    folder = _Folder(path)
    if folder.is_empty():
        return "missing"
    if folder.exists(COMPLETE):
        return "complete"
    if folder.exists(META):
        return "incomplete"
    return "other"

