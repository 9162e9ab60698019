"""Parse unit selections such as ``2:126,2:338``, ``2:0-9`` or ``1:*`` (1-based layers)."""
from __future__ import annotations

from rnnscope.errors import RnnscopeError
from rnnscope.model import ModelConfig


def parse_units(spec: str, config: ModelConfig) -> list[tuple[int, int]]:
    """``"2:126,2:338"`` -> ``[(2, 126), (2, 338)]``; ``L:A-B`` ranges, ``L:*`` whole layers."""
    out: list[tuple[int, int]] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        layer_s, _, unit_s = part.partition(":")
        try:
            layer = int(layer_s)
            if unit_s == "*":
                units = list(range(config.sizes[layer - 1])) if 1 <= layer <= config.num_layers else []
            elif "-" in unit_s:
                a, b = (int(v) for v in unit_s.split("-", 1))
                units = list(range(a, b + 1))
            else:
                units = [int(unit_s)]
        except ValueError:
            raise RnnscopeError(f"bad unit {part!r}: write layer:unit, e.g. 2:126, 2:0-9 or 2:*") from None
        if not 1 <= layer <= config.num_layers:
            raise RnnscopeError(f"unit {part!r}: layer {layer} does not exist "
                                f"(layers 1..{config.num_layers})")
        size = config.layer_size(layer)
        bad = [u for u in units if not 0 <= u < size]
        if bad:
            raise RnnscopeError(f"unit {part!r}: {bad[0]} is outside 0..{size - 1}")
        out += [(layer, u) for u in units]
    if not out:
        raise RnnscopeError("no unit given")
    return list(dict.fromkeys(out))
