"""Vocabularies for word-, character- and byte-level models.

A :class:`Vocabulary` turns text into the units a model reads and back. Every kind has the
specials ``<unk>`` and ``<eos>``. Byte vocabularies hold the 256 UTF-8 byte values (ids 0-255,
shown as the Latin-1 character of the byte, so a byte string round-trips through ``str``) followed
by the specials.

>>> v = Vocabulary.build("word", ["the cat sat", "the dog"])
>>> v.encode(v.units("the bird"))[1] == v.unk_id
True
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from rnnscope.errors import RnnscopeError, brief

UNK = "<unk>"
EOS = "<eos>"
KINDS = ("word", "char", "byte")


class Vocabulary:
    """Maps units (words, characters or bytes) to ids; ``kind`` says which."""

    def __init__(self, kind: str, itos: list[str]):
        if kind not in KINDS:
            raise RnnscopeError(f"unknown vocabulary kind {kind!r}; choose one of {', '.join(KINDS)}")
        self.kind = kind
        self.itos = list(itos)
        for special in (UNK, EOS):
            if special not in self.itos:
                self.itos.append(special)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            seen: set[str] = set()
            dup = next(u for u in self.itos if u in seen or seen.add(u))
            raise RnnscopeError(f"vocabulary has duplicate entries ({dup[:40]!r} at ids "
                                f"{self.itos.index(dup)} and {self.stoi[dup]})")
        self.unk_id = self.stoi[UNK]
        self.eos_id = self.stoi[EOS]

    # -- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, kind: str, lines: Iterable[str], max_size: int | None = None,
              min_freq: int = 1) -> Vocabulary:
        """Count units over ``lines`` and keep the most frequent (ties broken alphabetically)."""
        if kind == "byte":
            return cls.bytes()
        counts: Counter[str] = Counter()
        for line in lines:
            counts.update(_split(kind, line))
        for special in (UNK, EOS):
            counts.pop(special, None)
        ranked = sorted((u for u, n in counts.items() if n >= min_freq), key=lambda u: (-counts[u], u))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - 2)]
        return cls(kind, ranked)

    @classmethod
    def bytes(cls) -> Vocabulary:
        """The fixed 256-symbol UTF-8 byte vocabulary (plus ``<unk>``, ``<eos>``)."""
        return cls("byte", [chr(b) for b in range(256)])

    # -- text <-> ids ---------------------------------------------------------------------
    def units(self, text: str) -> list[str]:
        """Split ``text`` into this vocabulary's units (words, characters, or bytes as Latin-1)."""
        return _split(self.kind, text)

    def encode(self, units: Iterable[str]) -> list[int]:
        """Ids of ``units``; unknown units map to ``<unk>``."""
        get = self.stoi.get
        return [get(u, self.unk_id) for u in units]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids`` (words joined by spaces; bytes decoded as UTF-8 with replacement)."""
        units = [self.itos[i] for i in ids]
        if self.kind == "word":
            return " ".join(units)
        if self.kind == "byte":
            raw = bytes(ord(u) for u in units if len(u) == 1)
            return raw.decode("utf-8", errors="replace")
        return "".join(u if len(u) == 1 else "" for u in units)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, unit: str) -> bool:
        return unit in self.stoi

    # -- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"kind": self.kind, "itos": self.itos}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        """A vocabulary from its saved form, validated: a known ``kind``, a list of strings
        that fits the kind (single characters for char and byte vocabularies)."""
        if not isinstance(data, dict):
            raise RnnscopeError(f"expected an object with 'kind' and 'itos', got {type(data).__name__}")
        kind, itos = data["kind"], data["itos"]
        if not isinstance(kind, str):
            raise RnnscopeError(f"'kind' must be a string, got {kind!r}")
        if not isinstance(itos, list):
            raise RnnscopeError(f"'itos' must be a list of strings, got {type(itos).__name__}")
        bad = next((i for i, u in enumerate(itos) if not isinstance(u, str)), None)
        if bad is not None:
            raise RnnscopeError(f"'itos' entry {bad} is {itos[bad]!r}, not a string")
        if kind in ("char", "byte"):
            long = next((u for u in itos if len(u) != 1 and u not in (UNK, EOS)), None)
            if long is not None:
                raise RnnscopeError(f"a {kind} vocabulary holds single characters, but it has "
                                    f"{long[:20]!r}; is 'kind' right?")
        if kind == "byte" and any(ord(u) > 255 for u in itos if len(u) == 1):
            raise RnnscopeError("a byte vocabulary holds the 256 byte values only; is 'kind' right?")
        absent = [s for s in (UNK, EOS) if s not in itos]
        if absent:  # the constructor would append it, moving ids the model was trained with
            raise RnnscopeError(f"'itos' has no {absent[0]!r} entry; a saved vocabulary holds "
                                f"both {UNK} and {EOS}")
        return cls(kind, itos)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        p = Path(path)
        if not p.exists():
            raise RnnscopeError(f"vocabulary file not found: {p}")
        try:
            return cls.from_dict(json.loads(p.read_text(encoding="utf-8")))
        except UnicodeDecodeError as exc:
            raise RnnscopeError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:  # JSON, big ints
            raise RnnscopeError(f"{p}: not a vocabulary file ({brief(exc)})") from None
        except RnnscopeError as exc:
            raise RnnscopeError(f"{p}: {exc}") from None

    @classmethod
    def from_lines_file(cls, path: str | Path, kind: str = "word") -> Vocabulary:
        """A vocabulary whose ids are the line numbers of a text file (colorlessgreen vocab.txt)."""
        p = Path(path)
        if not p.exists():
            raise RnnscopeError(f"vocabulary file not found: {p}")
        try:
            itos = p.read_text(encoding="utf-8").rstrip("\n").split("\n")
            return cls(kind, itos)
        except UnicodeDecodeError as exc:
            line = p.read_bytes()[:exc.start].count(b"\n") + 1
            raise RnnscopeError(f"{p}:{line}: not UTF-8 text ({exc.reason})") from None
        except OSError as exc:
            raise RnnscopeError(f"{p}: cannot read ({exc.strerror or exc})") from None
        except RnnscopeError as exc:
            raise RnnscopeError(f"{p}: {exc}") from None


def _split(kind: str, text: str) -> list[str]:
    if kind == "word":
        return text.split()
    if kind == "char":
        return list(text)
    return [chr(b) for b in text.encode("utf-8")]
