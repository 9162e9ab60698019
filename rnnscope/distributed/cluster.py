"""Where distributed work runs: an existing Dask scheduler, or a local cluster of processes.

Every command that can scale out takes the same two options, added by :func:`cluster_options`:

* ``--cluster ADDRESS`` — connect to a running scheduler (``tcp://host:8786``), started e.g.
  with ``dask scheduler`` on one machine and ``dask worker tcp://host:8786`` on each other one;
* ``--workers N`` — start a :class:`distributed.LocalCluster` of ``N`` worker *processes* with
  one thread each (PyTorch and NumPy release the GIL only partly, so processes, not threads).

Neither given means the ordinary single-process code path, which never imports Dask.

>>> from rnnscope.distributed.cluster import wants_cluster
>>> wants_cluster(None, None), wants_cluster(None, 2)
(False, True)
"""
from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import click

from rnnscope.errors import RnnscopeError

INSTALL_HINT = "pip install 'rnnscope[distributed]'  (or: pip install 'dask[distributed]')"


def require_distributed() -> Any:
    """Import and return ``distributed``, or raise a one-line error saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise RnnscopeError("--cluster/--workers need Dask, which is not installed: "
                            + INSTALL_HINT) from None
    return distributed


def wants_cluster(cluster: str | None, workers: int | None) -> bool:
    """True when the user asked for distributed execution (either option given)."""
    return bool(cluster) or workers is not None


def check_options(cluster: str | None, workers: int | None) -> None:
    """Reject contradictory or impossible option values with one clear line."""
    if cluster and workers is not None:
        raise RnnscopeError("give either --cluster ADDRESS or --workers N, not both")
    if workers is not None and workers < 1:
        raise RnnscopeError(f"--workers must be at least 1, got {workers}")


@contextlib.contextmanager
def connect(cluster: str | None = None, workers: int | None = None,
            threads_per_worker: int = 1, quiet: bool = True) -> Iterator[Any]:
    """A ``distributed.Client`` for the duration of a ``with`` block, closed afterwards.

    ``cluster`` connects to a running scheduler; ``workers`` starts (and afterwards stops) a
    local cluster of that many worker processes, each under a nanny that restarts it if it dies.
    """
    check_options(cluster, workers)
    if not wants_cluster(cluster, workers):
        raise RnnscopeError("connect() needs a cluster address or a number of workers")
    distributed = require_distributed()
    if cluster:
        try:
            client = distributed.Client(cluster, timeout="20s")
        except OSError as exc:
            raise RnnscopeError(f"cannot reach the Dask scheduler at {cluster} ({exc})") from None
        try:
            yield client
        finally:
            client.close()
        return
    with dask_settings(threads_per_worker):
        local = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
            dashboard_address=":0", silence_logs=logging.ERROR if quiet else logging.WARNING)
    client = distributed.Client(local)
    try:
        yield client
    finally:
        client.close()
        local.close()


def dask_settings(threads: int = 1) -> Any:
    """Dask configuration for our workers (a context manager around starting a local cluster).

    * Worker environment: BLAS/OpenMP threads = ``threads``, and *no*
      ``MALLOC_TRIM_THRESHOLD_``: Dask's default (64 KiB) makes glibc hand memory back after
      every large free, and PyTorch, which allocates and frees big tensors at every step, then
      ran 2x slower in a worker than in a plain process on this machine.
    * No statistical profiler in the workers (it samples every thread's stack every 10 ms,
      taking the GIL).

    For ``dask worker`` started by hand, the same is ``MALLOC_TRIM_THRESHOLD_`` unset and
    ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``.
    """
    import dask

    n = str(threads)
    return dask.config.set({
        "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
                                                "OPENBLAS_NUM_THREADS": n},
        "distributed.worker.profile.enabled": False,
    })


def cluster_options(command: Callable) -> Callable:
    """Click decorator adding ``--cluster ADDRESS`` and ``--workers N`` to a command.

    The options arrive as keyword arguments ``cluster`` and ``workers`` (``None`` when absent);
    test them with :func:`wants_cluster` and open a client with :func:`connect`.
    """
    @click.option("--workers", type=int, default=None, metavar="N",
                  help="Run sharded on a local Dask cluster of N worker processes "
                       "(needs the 'distributed' extra).")
    @click.option("--cluster", default=None, metavar="ADDRESS",
                  help="Run sharded on a running Dask scheduler, e.g. tcp://host:8786 "
                       "(needs the 'distributed' extra).")
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_options(kwargs.get("cluster"), kwargs.get("workers"))
        return command(*args, **kwargs)

    return wrapper
