"""The one-line bridge from a CLI command to its sharded runner.

Commands that take ``--cluster ADDRESS`` / ``--workers N``
(:func:`rnnscope.distributed.cluster.cluster_options`) call :func:`dispatch` when either is
given: it opens the client (starting and afterwards stopping a local cluster for
``--workers``), runs the distributed function, prints the per-worker throughput summary to
stderr and returns the same kind of result the single-process function returns.

>>> from rnnscope.distributed.cli import dispatch  # needs no Dask until called
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from rnnscope.distributed.cluster import connect, wants_cluster


def dispatch(cluster: str | None, workers: int | None, runner: Callable, *args: Any,
             **kwargs: Any) -> Any:
    """``runner(*args, client=..., **kwargs)`` on the requested cluster; returns its result.

    ``runner`` is one of the ``*_distributed`` functions, which return ``(result, ShardRun)``.
    """
    with connect(cluster=cluster, workers=workers) as client:
        result, run = runner(*args, client=client, **kwargs)
    click.echo(f"\nthroughput per worker ({len(run.reports)} shards):", err=True)
    click.echo(run.summary(), err=True)
    return result


def choose(single: Callable, distributed: str, cluster: str | None, workers: int | None) -> Callable:
    """``single`` itself, or — when ``--cluster``/``--workers`` was given — a function taking the
    same arguments that runs ``distributed`` (``"module:function"``, imported only then) through
    :func:`dispatch`. Lets a command switch with one changed line::

        res = choose(probe, "rnnscope.distributed.probe:probe_one_distributed",
                     cluster, workers)(store, feature, ...)
    """
    if not wants_cluster(cluster, workers):
        return single
    import importlib

    module, name = distributed.split(":")
    runner = getattr(importlib.import_module(module), name)
    return functools.partial(dispatch, cluster, workers, runner)
