"""A store's files and what state a folder is in: the names and formats, the folder on any
fsspec filesystem (:class:`Folder`), and :func:`store_state` / :func:`is_complete` /
:func:`check_replaceable` / :func:`store_generation`, which read only that."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import fsspec
import numpy as np

from rnnscope.errors import StoreError

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
class Folder:
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
        if {"file", "local"} & set(protocols(self.fs)):
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


def protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    """The protocol names of an fsspec filesystem (``("file", "local")`` for a local disk)."""
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def check_dtype(dtype: str) -> str:
    dtype = np.dtype(dtype).name
    if dtype not in DTYPES:
        raise StoreError(f"store dtype must be float16 or float32, got {dtype}")
    return dtype


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy scalars and arrays in a store's meta."""
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} in meta.json")


def store_generation(path: Any) -> str:
    """An id that changes whenever the store at ``path`` is rewritten (a digest of its meta,
    which carries a random ``generation`` for stores written since it was introduced)."""
    folder = Folder(path)
    try:
        return hashlib.sha1(folder.read_bytes(META)).hexdigest()
    except (OSError, FileNotFoundError):
        return ""


def is_complete(path: Any) -> bool:
    """True when ``path`` holds a finished store."""
    folder = Folder(path)
    return folder.exists(COMPLETE) and folder.exists(META)


def check_replaceable(path: Any) -> None:
    """StoreError unless ``path`` is missing, an empty folder, or an activation store.

    ``--overwrite`` deletes recursively; this is what keeps it from deleting a corpus file or a
    folder of unrelated files given as ``--out`` by mistake. Nothing is deleted here.
    """
    folder = Folder(path)
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
    folder = Folder(path)
    if folder.is_empty():
        return "missing"
    if folder.exists(COMPLETE):
        return "complete"
    if folder.exists(META):
        return "incomplete"
    return "other"

