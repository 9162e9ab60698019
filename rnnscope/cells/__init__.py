"""Recurrent cell families, each defined once.

:mod:`rnnscope.cells.base` holds the contract (:class:`~rnnscope.cells.base.Cell`) and the one
stepwise loop; each family is one module (``lstm``, ``gru``, ``rnn``, ``relu``, ``peephole``);
:mod:`rnnscope.cells.registry` maps names to families. ``docs/cells.md`` shows how to add one.
Importing this package does not import PyTorch (the families load on first use).
"""
from rnnscope.cells.registry import CELLS, cell_names, get_cell

__all__ = ["CELLS", "cell_names", "get_cell"]
