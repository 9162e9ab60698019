"""Read the NLTK sample of the Penn Treebank (WSJ) straight from its zip file.

``treebank.zip`` (``shared/data/nltk_treebank``) holds ``treebank/combined/wsj_*.mrg``: bracketed
parses whose leaves are ``(TAG word)``. We read the ``.mrg`` members with :mod:`zipfile` and a
small s-expression reader (no NLTK needed), keep each word with its gold PTB tag as ``xpos``
(``upos`` is None: the treebank has no UD tags) and drop ``-NONE-`` trace leaves, which are not
words anyone wrote. Sentence ids are ``wsj_0001.mrg:0`` style (file, index in file).
"""
from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import CorpusError

TRACE_TAG = "-NONE-"
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def read_wsj_treebank(zip_path: str | Path, max_files: int | None = None) -> Corpus:
    """Words and gold PTB tags of every tree in the ``.mrg`` files of ``zip_path``.

    ``max_files`` reads only the first files (sorted by name). Raises
    :class:`~rnnscope.errors.CorpusError` for a missing or unreadable zip, a zip without
    ``.mrg`` files, or unbalanced brackets (naming the member file and line).
    """
    p = Path(zip_path)
    if not p.exists():
        raise CorpusError(f"file not found: {p}")
    try:
        archive = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError) as exc:
        raise CorpusError(f"{p}: not a readable zip file ({exc})") from None
    with archive:
        members = sorted(n for n in archive.namelist() if n.endswith(".mrg"))
        if max_files is not None:
            members = members[:max_files]
        if not members:
            raise CorpusError(f"{p}: no .mrg tree files in the zip")
        sentences: list[Sentence] = []
        for member in members:
            text = archive.read(member).decode("utf-8", errors="replace")
            fname = member.rsplit("/", 1)[-1]
            for i, leaves in enumerate(_trees(text, fname)):
                kept = [(tag, word) for tag, word in leaves if tag != TRACE_TAG]
                if not kept:
                    continue
                sentences.append(Sentence(words=[w for _, w in kept],
                                          annotations={"xpos": [t for t, _ in kept],
                                                       "upos": [None] * len(kept)},
                                          sent_id=f"{fname}:{i}"))
    if not sentences:
        raise CorpusError(f"{p}: empty corpus (no words in the trees)")
    return Corpus(sentences, name=p.name)


def parse_tree_leaves(text: str, where: str = "<string>") -> list[list[tuple[str, str]]]:
    """The ``(tag, word)`` leaves of every top-level tree in bracketed ``text``."""
    return list(_trees(text, where))


def _trees(text: str, where: str) -> Iterator[list[tuple[str, str]]]:
    """Yield the (tag, word) leaves of each top-level bracketed tree, in order."""
    depth = 0
    leaves: list[tuple[str, str]] = []
    atoms_stack: list[list[str]] = []  # atoms directly inside each open bracket
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok == "(":
            depth += 1
            atoms_stack.append([])
        elif tok == ")":
            if depth == 0:
                line = text.count("\n", 0, m.start()) + 1
                raise CorpusError(f"{where}:{line}: unbalanced ')'")
            atoms = atoms_stack.pop()
            if len(atoms) == 2:           # (TAG word): a leaf
                leaves.append((atoms[0], atoms[1]))
            depth -= 1
            if depth == 0:
                yield leaves
                leaves = []
        else:
            if depth == 0:
                line = text.count("\n", 0, m.start()) + 1
                raise CorpusError(f"{where}:{line}: text {tok!r} outside a tree")
            atoms_stack[-1].append(tok)
    if depth != 0:
        raise CorpusError(f"{where}: unbalanced brackets ({depth} '(' never closed)")
