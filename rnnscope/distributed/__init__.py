"""Scale-out on Dask: sharded extraction, ablation sweeps, probes and state gradients.

Why Dask (``dask.distributed``) rather than Ray or a home-made pool: it is pure Python and
light (no separate object store or raylet to install), its ``LocalCluster`` starts real
worker processes on one machine and the same code connects to a multi-machine scheduler by
address, its nanny restarts a worker process that dies, and the scheduler re-runs the tasks that
were on it. That is the fault tolerance this package builds on.

Layout:

* :mod:`~rnnscope.distributed.cluster` — ``--cluster ADDRESS`` / ``--workers N`` (a click
  decorator) and :func:`~rnnscope.distributed.cluster.connect`;
* :mod:`~rnnscope.distributed.shards` — the generic runner: one task per shard, a durable
  shard-complete marker after each shard's data, resume by skipping marked shards, one progress
  bar, a per-worker throughput summary;
* :mod:`~rnnscope.distributed.extract`, :mod:`~.ablate`, :mod:`~.probe`, :mod:`~.gradients` —
  each analysis split into shards whose merged result equals the single-process run;
* :mod:`~rnnscope.distributed.cli` — how ``extract``, ``ablate``, ``probe`` and ``gradients``
  switch to those runners when given ``--cluster``/``--workers``.

See ``docs/distributed.md``.

Dask is an optional extra (``pip install 'rnnscope[distributed]'``). Nothing here imports it
at module import time, and single-machine commands never import this package's runners.
"""
