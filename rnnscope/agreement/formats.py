"""Readers (and a writer) for the public number-agreement evaluation formats.

All formats are line-aligned text with space-separated tokens; every reader returns
:class:`~rnnscope.agreement.tasks.NAItem` objects whose ``prefix`` is what the model reads
(the words before the target), so the word at the target index is never scored.

* **Linzen** (the subset used by Gulordava et al.): ``X.text`` holds the whole lowercased
  sentence ending in ``<eos>``; ``X.gold`` four tab-separated columns: 0-based target index,
  correct form, wrong form, number of attractors. Condition = number of attractors.
* **Gulordava** "colorless green" sets: ``generated.text`` + ``generated.gold`` with 12
  tab-separated columns; with 0-based column indices, column 2 is the variant (0 = original
  sentence, 1-9 = nonce variants), column 3 the 0-based target index, columns 6 and 7 the
  correct and wrong forms (the issue and the original README count columns from 1: "column 3",
  "4", "7", "8"); column 0 (the construction pattern) becomes the task. Condition =
  ``original`` or ``nonce``. In nonce lines the word at the target index is not one of the
  two forms; only the prefix is used.
* **Lakretz** NA-task files: one item per line, 4 tab-separated columns: the prefix ending in
  the verb, the condition (``singular``, ``plural`` or ``<subject>_<attractor>``), ``correct``
  or ``wrong``, an item id that appears on two lines (once per verb form).
"""
from __future__ import annotations

from pathlib import Path

from rnnscope.agreement.tasks import NAItem
from rnnscope.errors import RnnscopeError

_NUM = {"singular": "S", "plural": "P"}
_NUM_BACK = {v: k for k, v in _NUM.items()}


def _lines(path: str | Path) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise RnnscopeError(f"file not found: {p}")
    data = p.read_bytes()
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        import gzip
        import zlib

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise RnnscopeError(f"{p}: corrupt gzip file ({exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise RnnscopeError(f"{p}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def sibling(path: Path, suffix: str) -> Path:
    """The file next to ``path`` with ``suffix`` instead of its own, with or without ``.gz``.

    ``X.text.gz`` -> ``X.gold.gz`` or ``X.gold``; ``X.text`` -> ``X.gold`` or ``X.gold.gz``
    (whichever exists; the plain name when neither does, so the error names it).
    """
    stem = path.with_suffix("") if path.suffix == ".gz" else path
    plain = stem.with_suffix(suffix)
    candidates = [plain.with_name(plain.name + ".gz"), plain] if path.suffix == ".gz" \
        else [plain, plain.with_name(plain.name + ".gz")]
    return next((c for c in candidates if c.is_file()), plain)


def _paired(text_path: str | Path, gold_path: str | Path | None, min_cols: int, expected: str
            ) -> list[tuple[str, list[str], list[str]]]:
    """``(file:line of the gold line, tokens, gold columns)`` per line (gold defaults to X.gold)."""
    text_path = Path(text_path)
    gold_path = Path(gold_path) if gold_path else sibling(text_path, ".gold")
    text, gold = _lines(text_path), _lines(gold_path)
    if len(text) != len(gold):
        raise RnnscopeError(f"{gold_path} has {len(gold)} lines but {text_path} has {len(text)}; "
                            "the files must be line-aligned")
    out = []
    for n, (t, g) in enumerate(zip(text, gold), start=1):
        cols = g.split("\t")
        if len(cols) < min_cols:
            raise RnnscopeError(f"{gold_path}:{n}: expected {expected}, got {len(cols)} columns")
        out.append((f"{gold_path}:{n}", t.split(), cols))
    return out


def _target(value: str, tokens: list[str], where: str) -> int:
    try:
        idx = int(value)
    except ValueError:
        raise RnnscopeError(f"{where}: target index {value!r} is not an integer") from None
    if not 0 <= idx < len(tokens):
        raise RnnscopeError(f"{where}: target index {idx} is outside the sentence "
                            f"({len(tokens)} tokens)")
    return idx


def read_linzen(text_path: str | Path, gold_path: str | Path | None = None,
                task: str = "Linzen") -> list[NAItem]:
    """Items of a Linzen-style ``X.text``/``X.gold`` pair (gold defaults to ``X.gold``)."""
    items = []
    for where, tokens, cols in _paired(text_path, gold_path, 4,
                                       "4 tab-separated columns (index, correct, wrong, attractors)"):
        idx = _target(cols[0], tokens, where)
        items.append(NAItem(task, cols[3].strip(), tuple(tokens[:idx]), cols[1].strip(),
                            cols[2].strip(), f"{task}-{where.rsplit(':', 1)[1]}", source=where))
    return items


def read_gulordava(text_path: str | Path, gold_path: str | Path | None = None) -> list[NAItem]:
    """Items of the "colorless green" ``generated.text``/``generated.gold`` sets."""
    items = []
    for where, tokens, cols in _paired(text_path, gold_path, 8, "12 tab-separated columns"):
        try:
            variant = int(cols[2])
        except ValueError:
            raise RnnscopeError(f"{where}: variant id {cols[2]!r} is not an integer") from None
        idx = _target(cols[3], tokens, where)
        condition = "original" if variant == 0 else "nonce"
        items.append(NAItem(cols[0].strip() or "Gulordava", condition, tuple(tokens[:idx]),
                            cols[6].strip(), cols[7].strip(), where.rsplit(":", 1)[1], source=where,
                            extra={"variant": variant}))
    return items


def _condition(label: str, where: str) -> str:
    parts = label.strip().split("_")
    if not label.strip() or any(p not in _NUM for p in parts) or len(parts) > 2:
        raise RnnscopeError(f"{where}: condition {label!r} is not singular, plural or "
                            "<subject>_<attractor> (e.g. singular_plural)")
    return "".join(_NUM[p] for p in parts)


def read_lakretz(path: str | Path, task: str | None = None) -> list[NAItem]:
    """Items of a Lakretz NA-task file (task name defaults to the file name's stem)."""
    path = Path(path)
    task = task or (path.with_suffix("").stem if path.suffix == ".gz" else path.stem)
    pending: dict[str, dict] = {}
    order: list[str] = []
    for n, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        cols = line.split("\t")
        if len(cols) != 4:
            raise RnnscopeError(f"{where}: expected 4 tab-separated columns "
                                f"(sentence, condition, correct|wrong, id), got {len(cols)}")
        words = cols[0].split()
        if len(words) < 2:
            raise RnnscopeError(f"{where}: the sentence needs a prefix and a verb")
        cond = _condition(cols[1], where)
        kind = cols[2].strip()
        if kind not in ("correct", "wrong"):
            raise RnnscopeError(f"{where}: third column must be 'correct' or 'wrong', got {kind!r}")
        item_id = cols[3].strip()
        if item_id not in pending:
            pending[item_id] = {"cond": cond, "prefix": words[:-1], "where": where}
            order.append(item_id)
        entry = pending[item_id]
        if entry["prefix"] != words[:-1] or entry["cond"] != cond:
            raise RnnscopeError(f"{where}: item {item_id!r} differs from its other line "
                                f"({entry['where']}) in prefix or condition")
        if kind in entry:
            raise RnnscopeError(f"{where}: item {item_id!r} has two '{kind}' lines")
        entry[kind] = words[-1]
    items = []
    for item_id in order:
        e = pending[item_id]
        if "correct" not in e or "wrong" not in e:
            missing = "wrong" if "wrong" not in e else "correct"
            raise RnnscopeError(f"{e['where']}: item {item_id!r} has no '{missing}' line")
        items.append(NAItem(task, e["cond"], tuple(e["prefix"]), e["correct"], e["wrong"],
                            item_id, source=e["where"]))
    return items


def write_lakretz(items: list[NAItem], path: str | Path) -> Path:
    """Write NA-task items in the Lakretz format (two lines per item)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for it in items:
        cond = "_".join(_NUM_BACK[c] for c in it.condition) if set(it.condition) <= {"S", "P"} \
            else it.condition
        item_id = f"{it.item_id}-{it.condition}"
        prefix = " ".join(it.prefix)
        lines.append(f"{prefix} {it.correct}\t{cond}\tcorrect\t{item_id}")
        lines.append(f"{prefix} {it.wrong}\t{cond}\twrong\t{item_id}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
