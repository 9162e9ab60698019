"""The ``rnnscope`` command line: one verb per command.

Each module in this package defines one or more ``click`` commands and lists them in a
module-level ``COMMANDS`` list; they are discovered here, so adding a command never means
editing a shared file. User errors (:class:`rnnscope.errors.RnnscopeError`, missing files,
a full disk) print one ``error:`` line and exit 2; Ctrl-C exits 130; an unexpected internal
error prints one line with a hint and exits 1 (``rnnscope --debug ...`` or ``RNNSCOPE_DEBUG=1``
shows the traceback instead).
"""
from __future__ import annotations

import errno
import importlib
import os
import pkgutil
import sys

import click

from rnnscope import __version__
from rnnscope.errors import RnnscopeError


class _Group(click.Group):
    """A click group that turns user errors into ``error: ...`` and exit code 2."""

    def invoke(self, ctx: click.Context):
        debug = bool(ctx.params.get("debug")) or os.environ.get("RNNSCOPE_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except RnnscopeError as exc:
            if debug:
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            if debug:
                raise
            click.echo(f"error: {exc.strerror or exc}: {exc.filename}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted (re-run with --resume where the command offers it)", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit):
            raise
        except OSError as exc:
            if debug:
                raise
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                where = f" writing {exc.filename}" if exc.filename else ""
                click.echo(f"error: the disk is full{where}; free some space and re-run "
                           "(with --resume where the command offers it)", err=True)
                sys.exit(2)
            click.echo(f"error: {exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""),
                       err=True)
            sys.exit(2)
        except Exception as exc:  # an rnnscope bug, not the user's: one line and a way to see more
            if debug:
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            click.echo(f"internal error: {type(exc).__name__}: {first} (this is a bug in rnnscope; "
                       "re-run with 'rnnscope --debug ...' to see the traceback)", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rnnscope")
@click.option("--debug", is_flag=True, help="Show the full traceback of any error.")
def main(debug: bool) -> None:
    """Open recurrent language models (LSTM, GRU, RNN) neuron by neuron."""
    # The CLI writes figures to files: a non-interactive backend, chosen here at the boundary
    # (the library itself never calls matplotlib.use), unless the user set one.
    os.environ.setdefault("MPLBACKEND", "Agg")


def _discover() -> None:
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            main.add_command(command)


_discover()
