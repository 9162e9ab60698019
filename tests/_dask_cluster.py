"""One local Dask cluster (2 worker processes) shared by every distributed test module.

Starting a cluster costs seconds (processes import torch), so the first module that asks for
it starts it and it is closed when the pytest session ends.
"""
from __future__ import annotations

import pytest

_STATE: dict = {}


def _close() -> None:
    cm = _STATE.pop("cm", None)
    _STATE.pop("client", None)
    if cm is not None:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="module")
def client(request):
    """A ``distributed.Client`` on a shared ``LocalCluster(n_workers=2, processes=True)``."""
    from rnnscope.distributed.cluster import connect

    if "client" not in _STATE:
        cm = connect(workers=2)
        _STATE["client"] = cm.__enter__()
        _STATE["cm"] = cm
        request.config.add_cleanup(_close)
    client = _STATE["client"]
    client.wait_for_workers(2, timeout=60)  # a test may have killed one; its nanny restarts it
    return client
