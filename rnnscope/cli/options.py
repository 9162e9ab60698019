"""Options shared by many commands (kept free of heavy imports: ``rnnscope --help`` stays fast)."""
from __future__ import annotations

import click

device_option = click.option(
    "--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]|mps",
    help="Where the model runs: auto picks a CUDA GPU, else Apple MPS, else the CPU.")


def model_on(model, device: str):
    """``model`` on the device a ``--device`` value names (one line on stderr when not the CPU)."""
    from rnnscope.device import resolve_device

    dev = resolve_device(device)
    if dev.type != "cpu":
        click.echo(f"device: {dev}", err=True)
    return model.to(dev)
