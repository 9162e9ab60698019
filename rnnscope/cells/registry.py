"""Cell family name -> :class:`~rnnscope.cells.base.Cell`: the only place a name is looked up.

Adding a family: write its module (see :mod:`rnnscope.cells.relu`) and add one line to
``CELLS``. Entries are ``"module:attribute"`` strings, imported on first use, so listing the
names (``rnnscope --help``) does not import PyTorch.
"""
from __future__ import annotations

from functools import lru_cache
from importlib import import_module

from rnnscope.errors import RnnscopeError

CELLS: dict[str, str] = {
    "lstm": "rnnscope.cells.lstm:LSTM",
    "gru": "rnnscope.cells.gru:GRU",
    "rnn": "rnnscope.cells.rnn:TanhRNN",
    "rnn_relu": "rnnscope.cells.relu:ReluRNN",
    "lstm_peephole": "rnnscope.cells.peephole:PeepholeLSTM",
    "lstm_proj": "rnnscope.cells.projected:ProjectedLSTM",
}


def cell_names() -> list[str]:
    """Every registered family's name, in registry order."""
    return list(CELLS)


def get_cell(name: str):
    """The cell family called ``name`` (a :class:`~rnnscope.cells.base.Cell` instance)."""
    if not isinstance(name, str) or name not in CELLS:
        raise RnnscopeError(f"unknown cell {name!r}; choose {', '.join(CELLS)}")
    return _load(name)


@lru_cache(maxsize=None)
def _load(name: str):
    module, attr = CELLS[name].split(":")
    cell = getattr(import_module(module), attr)()
    if cell.name != name:
        raise RnnscopeError(f"cell registry entry {name!r} loads a cell named {cell.name!r}")
    return cell
