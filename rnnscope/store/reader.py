"""Reading a store: its meta, token table and lazily read zarr arrays (:class:`ActivationStore`)."""
from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import zarr

from rnnscope.errors import RnnscopeError, StoreError, brief
from rnnscope.keys import parse_key
from rnnscope.store.layout import (ARRAYS, COMPLETE, DEFAULT_CHUNK_ROWS, DTYPES, FORMAT, META,
                                   TOKEN_COLUMNS, TOKENS, Folder)
from rnnscope.store.lock import writing_pid


# -- reading -------------------------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_meta(folder: Folder) -> dict:
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


def open_arrays(folder: Folder, meta: dict, mode: str) -> zarr.Group:
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


def _read_tokens(folder: Folder, meta: dict) -> pd.DataFrame:
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


class ActivationStore:
    """A finished store, read lazily: ``store["layer1.c"]`` is a zarr array [rows, H]."""

    def __init__(self, folder: Folder, meta: dict, group: zarr.Group):
        self._folder = folder
        self._meta = meta
        self._group = group
        self._tokens: pd.DataFrame | None = None
        self._means: dict[str, np.ndarray] = {}

    # construction ------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Any) -> ActivationStore:
        """Open a finished store; :class:`StoreError` if it is missing or was never completed."""
        folder = Folder(path)
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
        return cls(folder, meta, open_arrays(folder, meta, mode="r"))

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
        from rnnscope.store.writer import StoreWriter  # the writer returns readers

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


