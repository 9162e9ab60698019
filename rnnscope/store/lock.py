"""One writer per store: an OS file lock beside the store folder (``filelock``), released
when the holder exits, even when it is killed."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnscope.errors import StoreError
from rnnscope.store.layout import Folder, protocols


# -- one writer at a time -------------------------------------------------------------------------
def _lock_paths(path: Any) -> tuple[Path, Path] | None:
    """``(lock file, pid file)`` beside a local store folder (``None`` for remote URLs).

    They live next to the folder, not in it, so replacing the store never deletes its lock.
    """
    folder = Folder(path)
    if not {"file", "local"} & set(protocols(folder.fs)):
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


