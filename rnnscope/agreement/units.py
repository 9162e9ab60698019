"""Unit selections of the agreement analyses as ``(layer, unit)`` pairs (1-based layers).

The syntax is :mod:`rnnscope.units`' (``layer2.h:126``, ``layer2.h:0-9``, ``layer2.h:*``,
and the older ``2:126`` or a global number); this keeps the older two-field result.
"""
from __future__ import annotations

from rnnscope.model import ModelConfig
from rnnscope.units import parse_units as _parse


def parse_units(spec: str, config: ModelConfig, component: str = "h",
                usable: tuple[str, ...] | None = None, why: str = "") -> list[tuple[int, int]]:
    """``"layer2.h:126,2:338"`` -> ``[(2, 126), (2, 338)]``; ranges ``layer2.h:0-9``, whole
    layers ``layer2.h:*``. ``component``: that of the ``2:126`` and global forms; ``usable``
    (and ``why``, for the error): the components the caller can act on."""
    from rnnscope.cells import get_cell

    # global numbers count the units of ``component`` (a projecting cell's h is narrower)
    sizes = config.widths(component)
    units = _parse(spec, sizes, get_cell(config.cell).components, component,
                   usable=usable, why=why, width=config.width)
    return list(dict.fromkeys((n, u) for n, _, u in units))
