"""Options shared by many commands (kept free of heavy imports: ``rnnscope --help`` stays fast)."""
from __future__ import annotations

import click

device_option = click.option(
    "--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]|mps",
    help="Where the model runs: auto picks a CUDA GPU, else Apple MPS, else the CPU.")


def local_device(device: str, cluster, workers) -> str:
    """``device`` for a command that may also run on a Dask cluster: there the workers' CPUs
    do the work, so ``auto`` means the CPU and a GPU is refused."""
    from rnnscope.distributed.cluster import wants_cluster

    if not wants_cluster(cluster, workers):
        return device
    if device not in ("auto", "cpu"):
        from rnnscope.errors import RnnscopeError

        raise RnnscopeError(f"--device {device} with --cluster/--workers: the Dask path runs on "
                            "the workers' CPUs; drop one of the two")
    return "cpu"


def model_on(model, device: str):
    """``model`` on the device a ``--device`` value names (one line on stderr when not the CPU)."""
    from rnnscope.device import resolve_device

    dev = resolve_device(device)
    if dev.type != "cpu":
        click.echo(f"device: {dev}", err=True)
    return model.to(dev)
