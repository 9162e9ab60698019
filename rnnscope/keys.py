"""Names of recorded components: ``layer{n}.{component}`` with 1-based layers, 0-based units.

One place defines the naming so every analysis agrees: ``layer1.c`` is the cell state of the
first (bottom) layer. Python APIs that take a ``layer`` argument use the same 1-based numbering.
The papers' global unit numbering (layer 2 unit 126 of a 650-unit model = 776) is
:func:`global_unit`.
"""
from __future__ import annotations

from collections.abc import Sequence

from rnnscope.errors import RnnscopeError


def key(layer: int, component: str) -> str:
    """Return the store key of ``component`` in 1-based ``layer``: ``key(1, "c") == "layer1.c"``."""
    if layer < 1:
        raise RnnscopeError(f"layers are numbered from 1, got {layer}")
    return f"layer{layer}.{component}"


def parse_key(name: str) -> tuple[int, str]:
    """Split ``"layer2.h"`` into ``(2, "h")``; raise a clear error on anything else."""
    try:
        layer_part, component = name.split(".", 1)
        if not layer_part.startswith("layer"):
            raise ValueError
        layer = int(layer_part[len("layer"):])
    except ValueError:
        raise RnnscopeError(f"bad component key {name!r}: expected e.g. 'layer1.c'") from None
    if layer < 1 or not component:
        raise RnnscopeError(f"bad component key {name!r}: expected e.g. 'layer1.c'")
    return layer, component


def all_keys(cell: str, num_layers: int, components: list[str] | None = None) -> list[str]:
    """Every key of a model, optionally limited to ``components`` (checked against the cell)."""
    from rnnscope.cells import get_cell  # the cell family says what it records

    valid = get_cell(cell).components
    wanted = list(components) if components else list(valid)
    bad = [c for c in wanted if c not in valid]
    if bad:
        raise RnnscopeError(f"{cell} has no component {bad[0]!r}; it records {', '.join(valid)}")
    return [key(layer, c) for layer in range(1, num_layers + 1) for c in wanted]


def global_unit(layer: int, unit: int, hidden_size: "int | Sequence[int]") -> int:
    """The papers' numbering of a unit across layers (1-based layer, 0-based unit).

    ``hidden_size``: the size of every layer, or the per-layer sizes (bottom first) when they
    differ (``config.sizes``)."""
    if isinstance(hidden_size, int):
        return (layer - 1) * hidden_size + unit
    return sum(hidden_size[:layer - 1]) + unit
