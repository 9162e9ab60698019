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
  or ``wrong``, an item id that appears on two lines (once per verb form). The published
  labels are mapped to the paper's condition names (see :data:`PUBLISHED_LABELS`).
* **Lakretz nounpp stimuli** (the earlier set): ``nounpp.txt`` with 5 tab-separated columns
  (task, the sentence ending in the correct verb, subject number, attractor number, wrong verb
  form), with a Linzen-style ``nounpp.text`` / ``nounpp.gold`` pair beside it (checked
  against the ``.txt`` when present). :func:`read_lakretz` recognises it by its 5 columns.

Every reader takes ``.gz`` files transparently. Several files of the same name (two
``nounpp.txt`` in different folders) are kept apart by :func:`read_lakretz_files`, which
names such tasks by their path.
"""
from __future__ import annotations

import re
from pathlib import Path

from rnnscope.agreement.tasks import ALL_TASKS, INCONGRUENT, NAItem
from rnnscope.errors import RnnscopeError, brief

_NUM = {"singular": "S", "plural": "P"}
_NUM_BACK = {v: k for k, v in _NUM.items()}


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``, gunzipped when it is gzip (whatever its name)."""
    p = Path(path)
    if not p.is_file():
        raise RnnscopeError(f"file not found: {p}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise RnnscopeError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if data[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        import gzip
        import zlib

        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise RnnscopeError(f"{p}: corrupt gzip file ({brief(exc)})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = len(_NEWLINE_BYTES.findall(data, 0, exc.start)) + 1
        raise RnnscopeError(f"{p}:{line}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return text


#: Line ends of every reader here: ``\n``, ``\r\n`` or a lone ``\r`` — not the other breaks
#: ``str.splitlines`` knows (``\x0b``, ``\x1c``, ``\x85``, ``\u2028`` ...), which may occur
#: inside a line (a JSON string keeps U+2028 unescaped) and would shift line numbers.
_NEWLINE = re.compile(r"\r\n|\r|\n")
_NEWLINE_BYTES = re.compile(rb"\r\n|\r|\n")


def text_lines(text: str) -> list[str]:
    """``text`` split into lines at ``\\n``, ``\\r\\n`` and ``\\r`` only (see :data:`_NEWLINE`)."""
    lines = _NEWLINE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _lines(path: str | Path) -> list[str]:
    lines = text_lines(read_text(path))
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
    return _some(items, text_path)


#: The languages of Gulordava et al. (2018); their files sit in ``data/agreement/<Language>/``.
GULORDAVA_LANGUAGES = ("English", "Italian", "Hebrew", "Russian")


def gulordava_language(path: str | Path) -> str:
    """The language of a Gulordava file from its folder (``.../Italian/generated.text``), or ``""``."""
    folder = Path(path).resolve().parent.name
    return next((g for g in GULORDAVA_LANGUAGES if g.lower() == folder.lower()), "")


def read_gulordava(text_path: str | Path, gold_path: str | Path | None = None,
                   language: str | None = None, task_prefix: str = "") -> list[NAItem]:
    """Items of the "colorless green" ``generated.text``/``generated.gold`` sets.

    ``language`` (kept in ``extra["language"]`` for :func:`gulordava_summary`) defaults to the
    name of the file's folder when it is one of :data:`GULORDAVA_LANGUAGES`, as in the
    published ``data/agreement/English/generated.text``. ``task_prefix`` is put before every
    construction name (to keep the files of several languages apart).
    """
    language = gulordava_language(text_path) if language is None else language
    items = []
    for where, tokens, cols in _paired(text_path, gold_path, 8, "12 tab-separated columns"):
        try:
            variant = int(cols[2])
        except ValueError:
            raise RnnscopeError(f"{where}: variant id {cols[2]!r} is not an integer") from None
        idx = _target(cols[3], tokens, where)
        condition = "original" if variant == 0 else "nonce"
        items.append(NAItem(task_prefix + (cols[0].strip() or "Gulordava"), condition,
                            tuple(tokens[:idx]), cols[6].strip(), cols[7].strip(),
                            where.rsplit(":", 1)[1], source=where,
                            extra={"variant": variant, "language": language}))
    return _some(items, text_path)


def gulordava_summary(scored, items: list[NAItem]):
    """Original vs nonce accuracy overall and per language, as Gulordava et al. report it.

    ``scored``: the per-item table of :func:`rnnscope.agreement.scoring.score` (``items``;
    rows are matched to ``items`` by their ``source``). Returns a table with one row per
    language (when the items carry one) and an ``all`` row: ``language``, ``original_n``,
    ``original`` (accuracy, 0-1), ``nonce_n``, ``nonce``; empty when no item is Gulordava's.
    """
    import pandas as pd

    lang = {it.source: it.extra.get("language", "") for it in items
            if "variant" in it.extra and it.condition in ("original", "nonce")}
    cols = ["language", "original_n", "original", "nonce_n", "nonce"]
    rows = scored[scored["source"].isin(list(lang)) & scored["condition"].isin(["original", "nonce"])]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    rows = rows.assign(language=rows["source"].map(lang))

    def line(name, part):
        out = {"language": name}
        for cond in ("original", "nonce"):
            c = part[part["condition"] == cond]["is_correct"].astype(float)
            out[f"{cond}_n"], out[cond] = len(c), (c.mean() if len(c) else float("nan"))
        return out

    langs = list(dict.fromkeys(rows["language"]))
    table = [line(g or "?", rows[rows["language"] == g]) for g in langs] if any(langs) else []
    if len(langs) > 1 or not any(langs):
        table.append(line("all", rows))
    return pd.DataFrame(table, columns=cols)


def _condition(label: str, where: str) -> str:
    parts = label.strip().split("_")
    if not label.strip() or any(p not in _NUM for p in parts) or len(parts) > 2:
        raise RnnscopeError(f"{where}: condition {label!r} is not singular, plural or "
                            "<subject>_<attractor> (e.g. singular_plural)")
    return "".join(_NUM[p] for p in parts)


#: File stems of the published NA-task files (FAIRNS/Number_and_syntax_units_in_LSTM_LMs,
#: ``datasets/NA_tasks``) -> the paper's task names. rnnscope's own file names (``NounPP.txt``,
#: ``2Adv.txt`` ...) are recognised too, case-insensitively.
PUBLISHED_TASKS: dict[str, str] = {
    "simple": "Simple", "adv": "Adv", "adv_adv": "2Adv", "adv_conjunction": "CoAdv",
    "namepp": "NamePP", "nounpp": "NounPP", "nounpp_adv": "NounPPAdv",
    "subjrel_that": "SubjRel", "double_subjrel_that": "DoubleSubjRel",
}

_ONE = {"singular": "S", "plural": "P"}
_TWO = {"singular_singular": "SS", "singular_plural": "SP", "plural_singular": "PS",
        "plural_plural": "PP"}

#: Published condition label -> the paper's condition, per task, checked against Table 2 of
#: Lakretz et al. (2019, seed 004):
#:
#: ============================ ============================= ====================
#: task (file)                  label in the file             Table 2 condition
#: ============================ ============================= ====================
#: Simple, Adv, 2Adv, CoAdv     singular / plural             S / P
#: NamePP (namepp.txt)          singular / plural             **SS / PS**
#: NounPP, NounPPAdv            singular_singular ...         SS / SP / PS / PP
#: ============================ ============================= ====================
#:
#: The NamePP files label only the subject's number, but the intervening proper name is
#: always singular ("the boy near Pat greets"), so a plural subject is the *incongruent* PS
#: (Table 2: namePP SS 99.3, PS 68.9). Incongruent = the subject's and the intervening noun's
#: numbers differ: SP and PS (:data:`rnnscope.agreement.tasks.INCONGRUENT`); the NamePP files
#: also accept the explicit ``singular_singular`` / ``plural_singular``. The relative-clause
#: structures (``subjrel_that``, ``double_subjrel_that``) use the two-number labels.
PUBLISHED_LABELS: dict[str, dict[str, str]] = {
    **{t: dict(_ONE) for t in ("Simple", "Adv", "2Adv", "CoAdv")},
    "NamePP": {"singular": "SS", "plural": "PS",
               "singular_singular": "SS", "plural_singular": "PS"},
    **{t: dict(_TWO) for t in ("NounPP", "NounPPAdv", "SubjRel", "DoubleSubjRel")},
}


def published_task(path: str | Path) -> str | None:
    """The paper's task name of a Lakretz file, from its name (``namepp.txt.gz`` -> NamePP)."""
    stem = _stem(Path(path)).lower()
    return PUBLISHED_TASKS.get(stem) or {t.lower(): t for t in ALL_TASKS}.get(stem)


def paper_condition(task: str | None, label: str, where: str) -> tuple[str, bool]:
    """``(condition, incongruent)`` of a published label (``task``: the paper's task name).

    A task of the paper maps its labels by :data:`PUBLISHED_LABELS` (an unexpected label is an
    error naming ``where``); any other task keeps the plain reading (``singular`` -> S,
    ``singular_plural`` -> SP).
    """
    key = label.strip()
    table = PUBLISHED_LABELS.get(task or "")
    if table is None:
        cond = _condition(label, where)
    elif key in table:
        cond = table[key]
    else:
        _condition(label, where)  # the generic message for labels that are not numbers at all
        raise RnnscopeError(f"{where}: condition {label!r} does not occur in {task} "
                            f"(expected {', '.join(table)})")
    return cond, cond in INCONGRUENT


def _stem(path: Path) -> str:
    return path.with_suffix("").stem if path.suffix == ".gz" else path.stem


def _is_stimuli(path: Path) -> bool:
    """A 5-column nounpp stimulus file, or the ``.text`` of its ``.text``/``.gold`` pair."""
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    if plain.suffix == ".text":
        return True
    first = next((ln for ln in _lines(path) if ln.strip()), "")
    return len(first.split("\t")) == 5


def read_lakretz(path: str | Path, task: str | None = None) -> list[NAItem]:
    """Items of a Lakretz NA-task file (task name defaults to the file name's stem).

    Conditions follow the paper (:data:`PUBLISHED_LABELS`: a plural subject in
    ``namepp.txt`` is PS); a file of the earlier 5-column nounpp stimulus set (or its
    ``.text`` file) is read by :func:`read_lakretz_stimuli`.
    """
    path = Path(path)
    if _is_stimuli(path):
        return read_lakretz_stimuli(path, task)
    paper = published_task(path)
    task = task or _stem(path)
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
        cond, _ = paper_condition(paper, cols[1], where)
        kind = cols[2].strip()
        if kind not in ("correct", "wrong"):
            raise RnnscopeError(f"{where}: third column must be 'correct' or 'wrong', got {kind!r}")
        item_id = cols[3].strip()
        if item_id not in pending:
            pending[item_id] = {"cond": cond, "prefix": words[:-1], "where": where,
                                "label": cols[1].strip()}
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
                            item_id, source=e["where"],
                            extra={"label": e["label"], "paper_task": paper}))
    return _some(items, path)


def read_lakretz_stimuli(path: str | Path, task: str | None = None) -> list[NAItem]:
    """Items of the earlier nounpp stimulus set: ``X.txt`` (5 columns) and ``X.text``/``X.gold``.

    ``path`` is the ``.txt`` (columns: task, sentence ending in the correct verb, subject
    number, attractor number, wrong verb form) or the ``.text``. When both the ``.txt`` and
    the pair exist they must agree line by line (the ``.gold`` target index is the verb's,
    its forms the ``.txt``'s); the ``.gold`` attractor column (``-999``) is not used.
    """
    path = Path(path)
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    txt = sibling(path, ".txt") if plain.suffix == ".text" else path
    if not txt.is_file():
        raise RnnscopeError(f"{path}: the conditions of a .text/.gold stimulus pair are in "
                            f"{txt}, which is missing")
    task = task or _stem(txt)
    items = []
    for n, line in enumerate(_lines(txt), start=1):
        where = f"{txt}:{n}"
        cols = line.split("\t")
        if len(cols) != 5:
            raise RnnscopeError(f"{where}: expected 5 tab-separated columns (task, sentence, "
                                f"subject number, attractor number, wrong verb), got {len(cols)}")
        words = cols[1].split()
        if len(words) < 2:
            raise RnnscopeError(f"{where}: the sentence needs a prefix and a verb")
        label = f"{cols[2].strip()}_{cols[3].strip()}"
        paper = PUBLISHED_TASKS.get(cols[0].strip().lower()) or published_task(txt)
        cond, _ = paper_condition(paper, label, where)
        items.append(NAItem(task, cond, tuple(words[:-1]), words[-1], cols[4].strip(),
                            f"{task}-{n}", source=where,
                            extra={"label": label, "paper_task": paper}))
    _some(items, txt)
    text, gold = sibling(txt, ".text"), sibling(txt, ".gold")
    if text.is_file() and gold.is_file():
        _check_stimuli_pair(items, text, gold)
    return items


def _some(items: list[NAItem], path: str | Path) -> list[NAItem]:
    """``items``, or an error naming ``path`` when it holds none (an empty or blank file)."""
    if not items:
        raise RnnscopeError(f"{path}: no items (the file is empty)")
    return items


def _check_stimuli_pair(items: list[NAItem], text: Path, gold: Path) -> None:
    pairs = _paired(text, gold, 3, "4 tab-separated columns (index, correct, wrong, attractors)")
    if len(pairs) != len(items):
        txt = items[0].source.rsplit(':', 1)[0] if items else "its .txt file"
        raise RnnscopeError(f"{gold} has {len(pairs)} lines but {txt} "
                            f"has {len(items)}; the stimulus files must be line-aligned")
    for it, (where, tokens, cols) in zip(items, pairs):
        idx = _target(cols[0], tokens, where)
        if (tuple(tokens[:idx]), cols[1].strip(), cols[2].strip()) != (it.prefix, it.correct, it.wrong):
            raise RnnscopeError(f"{where}: target {idx} ({cols[1].strip()}/{cols[2].strip()}) "
                                f"disagrees with {it.source} ({' '.join(it.prefix)} "
                                f"{it.correct}/{it.wrong})")


def task_names(paths: list[str | Path]) -> list[str]:
    """A task name per file: its stem, or, for files sharing a stem, enough of the path to
    tell them apart (``NA_tasks/nounpp`` and ``Stimuli/nounpp``); a file given twice is an error.
    """
    paths = [Path(p) for p in paths]
    resolved = [p.resolve() for p in paths]
    for i, r in enumerate(resolved):
        if r in resolved[:i]:
            raise RnnscopeError(f"{paths[i]} is given twice")
    stems = [_stem(p) for p in paths]
    names = list(stems)
    for i, stem in enumerate(stems):
        same = [j for j, s in enumerate(stems) if s.lower() == stem.lower()]
        if len(same) == 1:
            continue
        dirs = {j: resolved[j].parent.parts for j in same}
        depth = 1
        while depth < len(dirs[i]) and len({dirs[j][-depth:] for j in same}) < len(same):
            depth += 1
        if len({dirs[j][-depth:] for j in same}) < len(same):  # same folder: x.txt, x.txt.gz
            names[i] = str(paths[i])
        else:
            names[i] = "/".join((*dirs[i][-depth:], stem))
    return names


def read_lakretz_files(paths: list[str | Path]) -> list[NAItem]:
    """Items of several Lakretz files, one task per file (see :func:`task_names`)."""
    items: list[NAItem] = []
    for path, name in zip(paths, task_names(list(paths))):
        items += read_lakretz(path, task=name)
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
