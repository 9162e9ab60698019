"""How much of a text became ``<unk>``: the share of units and the commonest unknown ones.

Every command that runs a model over text says it in one line (and warns above 5 %), so a
casing or vocabulary mismatch is never silent.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WARN_ABOVE = 0.05


@dataclass(frozen=True)
class UnknownReport:
    """``n_unknown`` of ``n_units`` units were ``<unk>``; ``commonest``: (unit, count) pairs."""

    n_units: int
    n_unknown: int
    commonest: tuple[tuple[str, int], ...]

    @property
    def share(self) -> float:
        return self.n_unknown / self.n_units if self.n_units else 0.0

    def line(self, what: str = "tokens") -> str:
        """One line for the user: ``warning:`` above 5 %, naming the commonest unknown units."""
        text = f"{self.share:.1%} of the {self.n_units:,} {what} are <unk>"
        if self.share > WARN_ABOVE:
            common = ", ".join(f"{u!r} ({n})" for u, n in self.commonest[:8])
            return f"warning: {text}; commonest unknown: {common}"
        return text

    def to_dict(self) -> dict:
        return {"n_units": self.n_units, "n_unknown": self.n_unknown,
                "commonest": [list(p) for p in self.commonest]}

    @classmethod
    def from_dict(cls, data: dict) -> UnknownReport:
        return cls(int(data["n_units"]), int(data["n_unknown"]),
                   tuple((str(u), int(n)) for u, n in data.get("commonest", [])))


def unknown_report(units: Iterable[Sequence[str]], known: set[str] | dict, top: int = 10) -> UnknownReport:
    """Count the units of every sequence in ``units`` that are not in ``known``."""
    total, missing = 0, Counter()
    for seq in units:
        total += len(seq)
        missing.update(u for u in seq if u not in known)
    return UnknownReport(total, sum(missing.values()), tuple(missing.most_common(top)))
