"""The ``rnnscope`` command line: one verb per command.

Each module in this package defines one or more ``click`` commands and lists them in a
module-level ``COMMANDS`` list; they are discovered here, so adding a command never means
editing a shared file. User errors (:class:`rnnscope.errors.RnnscopeError`, missing files,
Ctrl-C) print one line and exit non-zero instead of a traceback.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from rnnscope import __version__
from rnnscope.errors import RnnscopeError


class _Group(click.Group):
    """A click group that turns user errors into ``error: ...`` and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RnnscopeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            click.echo(f"error: {exc.strerror or exc}: {exc.filename}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted (re-run with --resume where the command offers it)", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnnscope")
def main() -> None:
    """Open recurrent language models (LSTM, GRU, RNN) neuron by neuron."""


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            main.add_command(command)


_discover()
