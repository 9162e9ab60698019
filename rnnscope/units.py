"""One syntax to name a unit everywhere: ``layer2.c:126``.

A unit is the store key of its component (``layer{n}.{component}``, 1-based layer, see
:mod:`rnnscope.keys`), a colon and its 0-based index: ``layer2.c:126`` is unit 126 of the cell
state of the second layer. Every command that takes units reads this form, and every table
that names a unit writes it (:func:`unit_name`). Also accepted, so older command lines keep
working:

* ``2:126``: 1-based layer and unit, the component chosen by the command (``h``, or the
  component its ``--mode`` / ``--component`` says);
* ``776``: the papers' global number, counting units across the layers bottom first (with two
  650-unit layers, 776 is layer 2 unit 126; :func:`rnnscope.keys.global_unit`), again with
  the command's component.

Lists are comma separated; ``layer2.h:0-9`` is a range (inclusive) and ``layer2.h:*`` a whole
layer (:func:`parse_units`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

from rnnscope.errors import RnnscopeError
from rnnscope.keys import key

if TYPE_CHECKING:
    import pandas as pd

Unit = tuple[int, str, int]  # (1-based layer, component, 0-based unit)

_CANONICAL = re.compile(r"layer(\d+)\.([A-Za-z_]\w*):(.*)")
_LEGACY = re.compile(r"(\d+):(.*)")
_INDEX = re.compile(r"\*|\d+|\d+-\d+")
_FORMS = "write e.g. layer2.h:126, layer2.h:0-9 or layer2.h:* (also 2:126 or a global number)"


def unit_name(layer: int, component: str, unit: int) -> str:
    """The canonical name of a unit: ``unit_name(2, "c", 126) == "layer2.c:126"``."""
    if unit < 0:
        raise RnnscopeError(f"units are numbered from 0, got {unit}")
    return f"{key(layer, component)}:{int(unit)}"


def parse_units(spec: str, sizes: Sequence[int], components: Collection[str] | None = None,
                default_component: str | None = None, *, usable: Collection[str] | None = None,
                why: str = "", layer: int | None = None,
                width: Callable[[int, str], int] | None = None) -> list[Unit]:
    """Units named by ``spec`` (comma separated), de-duplicated in the order given.

    ``sizes``: every layer's size, bottom first (``config.sizes``). ``components``: what the
    cell records (names outside it are refused). ``default_component``: the component of the
    ``2:126`` and global-number forms (without it they are refused: name the component).
    ``usable``: the components this command can act on, ``why`` a phrase saying so for the
    error (``"--mode h ablates h"``). ``layer``: bare integers are units of this layer (a
    viewer's ``--key``) instead of global numbers. ``width(layer, component)``: the number of
    units of a component when it is not the layer's size (a projecting cell's ``h``).
    """
    out: list[Unit] = []
    for part in (p.strip() for p in spec.split(",")):
        if part:
            out += _parse_part(part, sizes, components, default_component, usable, why, layer,
                               width)
    if not out:
        raise RnnscopeError("no unit given: " + _FORMS)
    return list(dict.fromkeys(out))


def parse_unit(text: str, sizes: Sequence[int], components: Collection[str] | None = None,
               default_component: str | None = None, **kw) -> Unit:
    """One unit, ``(layer, component, unit)``: ``parse_unit("layer2.c:126", (650, 650))`` is
    ``(2, "c", 126)``; ``parse_unit("776", (650, 650), default_component="h")`` is
    ``(2, "h", 126)``. Takes the keywords of :func:`parse_units`; a range is refused."""
    units = parse_units(text, sizes, components, default_component, **kw)
    if len(units) != 1:
        raise RnnscopeError(f"{text.strip()!r} names {len(units)} units; give one, "
                            "e.g. layer2.h:126")
    return units[0]


def _parse_part(part, sizes, components, default, usable, why, layer, width) -> list[Unit]:
    m = _CANONICAL.fullmatch(part) or _LEGACY.fullmatch(part)
    if m and len(m.groups()) == 3:
        n, comp, index = int(m.group(1)), m.group(2), m.group(3).strip()
    elif m:
        n, comp, index = int(m.group(1)), default, m.group(2).strip()
    elif part.isdigit():  # a global number (or, with ``layer``, a unit of that layer)
        n, comp = _global(part, sizes, layer), default
        index = part if layer is not None else str(int(part) - sum(sizes[:n - 1]))
    else:
        raise RnnscopeError(f"bad unit {part!r}: {_FORMS}")
    if not _INDEX.fullmatch(index):
        raise RnnscopeError(f"bad unit {part!r}: {_FORMS}")
    if not 1 <= n <= len(sizes):
        raise RnnscopeError(f"unit {part!r}: layer {n} does not exist (layers 1..{len(sizes)})")
    if comp is None:
        raise RnnscopeError(f"unit {part!r}: say which component, e.g. {key(n, 'h')}:{index}")
    if components is not None and comp not in components:
        raise RnnscopeError(f"unit {part!r}: the cell records no component {comp!r} "
                            f"(it records {', '.join(components)})")
    if usable is not None and comp not in usable:
        fix = f"{key(n, next(iter(usable)))}:{index}"
        raise RnnscopeError(f"unit {part!r}: {why or 'this command uses ' + ', '.join(usable)}, "
                            f"not {comp!r}; write {fix}")
    size = width(n, comp) if width is not None else sizes[n - 1]
    if index == "*":
        units = list(range(size))
    elif "-" in index:
        a, b = (int(v) for v in index.split("-"))
        if a > b:
            raise RnnscopeError(f"unit {part!r}: the range {a}-{b} is empty (write low-high)")
        units = list(range(a, b + 1))
    else:
        units = [int(index)]
    bad = [u for u in units if not 0 <= u < size]
    if bad:
        raise RnnscopeError(f"unit {part!r} is out of range: {bad[0]} is outside "
                            f"0..{size - 1} ({key(n, comp)} has {size} units)")
    return [(n, comp, u) for u in units]


def _global(part: str, sizes: Sequence[int], layer: int | None) -> int:
    """The layer of a bare number: ``layer`` if given, else the layer its global number falls in."""
    if layer is not None:
        return layer
    g, total = int(part), sum(sizes)
    if g >= total:
        raise RnnscopeError(f"unit {part!r}: the global number {g} is outside 0..{total - 1} "
                            f"(layers of {', '.join(map(str, sizes))} units)")
    n = 1
    while g >= sum(sizes[:n]):
        n += 1
    return n


def add_unit_names(table: pd.DataFrame, component: str | None = None, *,
                   component_column: str | None = None, layer: str = "layer",
                   unit: str = "unit", name: str = "unit_name") -> pd.DataFrame:
    """A copy of ``table`` with a ``name`` column of canonical unit names, placed after its
    ``global_unit`` column (else after ``unit``). The component is ``component`` for every
    row, or each row's ``component_column``. Tables without the ``layer``/``unit`` columns
    come back unchanged."""
    if layer not in table.columns or unit not in table.columns or name in table.columns:
        return table
    comps = table[component_column] if component_column else [component] * len(table)
    names = [unit_name(int(n), str(c), int(u)) for n, c, u in zip(table[layer], comps, table[unit])]
    out = table.copy()
    after = "global_unit" if "global_unit" in out.columns and unit == "unit" else unit
    out.insert(out.columns.get_loc(after) + 1, name, names)
    return out
