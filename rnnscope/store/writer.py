"""Writing a store by row ranges (:class:`StoreWriter`): preallocated arrays, distinct chunks
writable concurrently, and :meth:`StoreWriter.finalize` writing the tokens, meta and marker last."""
from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import zarr
from zarr.codecs import ZstdCodec

from rnnscope.errors import StoreError
from rnnscope.keys import parse_key
from rnnscope.store.layout import (ARRAYS, COMPLETE, COMPRESSIONS, DEFAULT_CHUNK_ROWS, FORMAT, META,
                                   TOKEN_COLUMNS, TOKENS, Folder, json_default, check_dtype,
                                   check_replaceable)
from rnnscope.store.reader import ActivationStore, open_arrays, read_meta


# -- writing -------------------------------------------------------------------------------------
class StoreWriter:
    """Creates a store's preallocated arrays, fills them by row ranges, then finalizes it.

    Several writers (processes, machines) may fill one store concurrently as long as each owns
    whole chunks: use :meth:`chunk_bounds` to split work. Within one writer, any row range works
    (a partial chunk is read, merged and rewritten by zarr).
    """

    def __init__(self, folder: Folder, meta: dict, group: zarr.Group):
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
        folder = Folder(path)
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
        folder.write_text(META, json.dumps(meta, indent=2, default=json_default))
        return cls(folder, meta, group)

    @classmethod
    def reopen(cls, path: Any) -> StoreWriter:
        """Continue filling an incomplete store (for resuming an interrupted extraction)."""
        folder = Folder(path)
        if not folder.exists(META) or not folder.exists(ARRAYS):
            raise StoreError(f"no store to resume at {folder.url}")
        if folder.exists(COMPLETE):
            raise StoreError(f"store {folder.url} is already complete")
        meta = read_meta(folder)
        return cls(folder, meta, open_arrays(folder, meta, mode="r+"))

    @property
    def path(self) -> str:
        return self._folder.url

    @property
    def folder(self) -> Folder:
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
        self._folder.write_text(META, json.dumps(self.meta, indent=2, default=json_default))
        self._folder.write_text(COMPLETE, "complete\n")
        return ActivationStore.open(self._folder.url)


