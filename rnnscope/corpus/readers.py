"""Read corpora from disk into :class:`~rnnscope.corpus.types.Corpus` objects.

Three formats, chosen by :func:`read_corpus` from the file name:

- CoNLL-U (``.conllu``, ``.conllu.gz``): gold words with UPOS, XPOS, FEATS, HEAD, DEPREL and
  ``SpaceAfter=No``. Multiword-token ranges (``1-2``) and empty nodes (``8.1``) are skipped, so
  a sentence's words are its *syntactic* words and HEAD indexes them directly.
- Plain text (anything else, ``.gz`` too): one sentence or paragraph per line, split on
  whitespace, blank lines skipped (Penn Treebank and WikiText-2 style).
- The NLTK Wall Street Journal sample (``.zip``): see :mod:`rnnscope.corpus.ptb_trees`.

Every problem the user can cause (missing file, malformed line, empty corpus) raises
:class:`~rnnscope.errors.CorpusError` with one line naming the file (and line).
"""
from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from conllu.exceptions import ParseException
from conllu.parser import parse_comment_line, parse_dict_value, parse_id_value, parse_int_value

from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import CorpusError, brief

CONLLU_COLUMNS = ("upos", "xpos", "feats", "deprel", "head")
_N_FIELDS = 10


def read_corpus(path: str | Path, max_lines: int | None = None) -> Corpus:
    """Read ``path`` with the reader its extension calls for (CoNLL-U, WSJ zip, or text).

    ``max_lines`` limits plain-text corpora to their first non-blank lines (ignored otherwise).
    """
    p = _existing(path)
    name = p.name.lower()
    if name.endswith((".conllu", ".conllu.gz", ".conll", ".conll.gz")):
        return read_conllu(p)
    if name.endswith(".zip"):
        from rnnscope.corpus.ptb_trees import read_wsj_treebank
        return read_wsj_treebank(p)
    return read_text(p, max_lines=max_lines)


# -- CoNLL-U --------------------------------------------------------------------------------
def read_conllu(path: str | Path) -> Corpus:
    """Read a CoNLL-U file (plain or gzipped) into a corpus of syntactic words.

    Columns: ``upos``, ``xpos`` (None for ``_``), ``feats`` (dict, ``{}`` for ``_``), ``deprel``,
    ``head`` (int, 0 = root). ``space_after`` is False after a word whose MISC (or whose
    multiword token's MISC) says ``SpaceAfter=No``, and inside multiword tokens. Multiword
    tokens are kept in ``Sentence.multiword_tokens`` so that char/byte models read their surface
    form (French ``du``, not ``dele``).
    """
    p = _existing(path)
    sentences = [_conllu_sentence(p.name, block) for block in _conllu_blocks(p)]
    if not sentences:
        raise CorpusError(f"{p}: empty corpus (no sentences)")
    return Corpus(sentences, name=p.name)


def _conllu_blocks(p: Path) -> Iterator[list[tuple[int, str]]]:
    """Yield each sentence as a list of (1-based line number, line) pairs."""
    block: list[tuple[int, str]] = []
    with _opened(p) as handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    block.append((lineno, line))
                elif block:
                    yield block
                    block = []
        except UnicodeDecodeError:
            raise not_utf8_error(p) from None
        except _READ_ERRORS as exc:
            raise CorpusError(f"{p.name}: cannot read ({brief(exc)})") from None
    if block:
        yield block


def _conllu_sentence(fname: str, block: list[tuple[int, str]]) -> Sentence:
    words: list[str] = []
    cols: dict[str, list] = {c: [] for c in CONLLU_COLUMNS}
    space_after: list[bool] = []
    sent_id = ""
    range_end = 0                # last word id covered by the current multiword token
    range_space = True           # SpaceAfter of that multiword token
    multiword: list[tuple[int, int, str]] = []
    head_lines: list[tuple[int, int | None]] = []   # (line, HEAD) of every word
    for lineno, line in block:
        where = f"{fname}:{lineno}"
        if line.startswith("#"):
            for key, value in parse_comment_line(line):
                if key == "sent_id" and value is not None:
                    sent_id = value
            continue
        fields = line.split("\t")
        if len(fields) != _N_FIELDS:
            raise CorpusError(f"{where}: expected {_N_FIELDS} tab-separated columns, found {len(fields)}")
        if fields[0].isascii() and fields[0].isdigit():   # the common case, parsed fast
            tid = int(fields[0])
        else:
            try:
                tid = parse_id_value(fields[0])
            except ParseException:
                raise CorpusError(f"{where}: bad word id {fields[0]!r}") from None
        if isinstance(tid, tuple):
            if tid[1] == "-":                         # multiword token range "1-2"
                if tid[0] != len(words) + 1 or tid[2] < tid[0]:
                    raise CorpusError(f"{where}: multiword token {fields[0]} does not start at "
                                      f"word {len(words) + 1}")
                range_end = tid[2]
                range_space = _space_after(fields[9], where)
                multiword.append((tid[0] - 1, tid[2] - 1, fields[1]))
            continue                                  # empty node "8.1"
        if tid != len(words) + 1:
            raise CorpusError(f"{where}: expected word id {len(words) + 1}, found {tid}")
        words.append(fields[1])
        try:
            head = (int(fields[6]) if fields[6].isascii() and fields[6].isdigit()
                    else parse_int_value(fields[6]))
        except (ParseException, ValueError):
            raise CorpusError(f"{where}: bad HEAD {fields[6]!r} (a word id, 0 for the root, "
                              "or _)") from None
        if head is not None and head < 0:
            raise CorpusError(f"{where}: bad HEAD {fields[6]!r} (a word id, 0 for the root, or _)")
        head_lines.append((lineno, head))
        cols["upos"].append(_nullable(fields[3]))
        cols["xpos"].append(_nullable(fields[4]))
        cols["feats"].append(_feats(fields[5], where))
        cols["deprel"].append(_nullable(fields[7]))
        cols["head"].append(head)
        if tid < range_end:
            space_after.append(False)
        elif tid == range_end:
            space_after.append(range_space and _space_after(fields[9], where))
        else:
            space_after.append(_space_after(fields[9], where))
    if not words:
        raise CorpusError(f"{fname}:{block[0][0]}: sentence has no words")
    if range_end > len(words):
        raise CorpusError(f"{fname}:{block[0][0]}: multiword token ends at word {range_end}, "
                          f"but the sentence has {len(words)} words")
    for lineno, head in head_lines:
        if head is not None and head > len(words):
            raise CorpusError(f"{fname}:{lineno}: HEAD {head} is outside the sentence, which has "
                              f"{len(words)} words")
    _check_tree(head_lines, fname)
    return Sentence(words=words, annotations=cols, sent_id=sent_id, space_after=space_after,
                    multiword_tokens=multiword or None)


def _check_tree(head_lines: list[tuple[int, int | None]], fname: str) -> None:
    """Refuse heads that form a cycle, naming the line whose HEAD closes it (linear time)."""
    heads = [h for _, h in head_lines]
    state = [0] * len(heads)  # 0 not seen, 1 on the path being followed, 2 leads to the root
    for start in range(len(heads)):
        path, k = [], start
        while k is not None and state[k] == 0:
            state[k] = 1
            path.append(k)
            k = None if heads[k] in (None, 0) else heads[k] - 1
        if k is not None and state[k] == 1:
            raise CorpusError(f"{fname}:{head_lines[k][0]}: HEAD {heads[k]} closes a cycle "
                              f"(word {k + 1} is its own ancestor)")
        for j in path:
            state[j] = 2


def _feats(value: str, where: str) -> dict[str, str]:
    """FEATS ``Name=Value|Name=Value`` as a dict; ``_`` is ``{}``. Every item needs a name, an
    ``=`` and a value, and a name may occur once (``Number`` alone is an error, not
    ``Number=""``)."""
    if value == "_":
        return {}
    feats: dict[str, str] = {}
    for item in value.split("|"):
        name, eq, val = item.partition("=")
        if not eq or not name.strip() or not val.strip():
            raise CorpusError(f"{where}: bad FEATS {value!r}: item {item!r} is not Name=Value")
        if name in feats:
            raise CorpusError(f"{where}: bad FEATS {value!r}: {name} is given twice")
        feats[name] = val
    return feats


def _space_after(misc: str, where: str) -> bool:
    if misc in ("_", ""):
        return True
    try:
        values = parse_dict_value(misc) or {}
    except (ParseException, ValueError):
        raise CorpusError(f"{where}: bad MISC column {misc!r}") from None
    return values.get("SpaceAfter") != "No"


def _nullable(value: str) -> str | None:
    return None if value == "_" else value


# -- plain text ------------------------------------------------------------------------------
def read_text(path: str | Path, max_lines: int | None = None) -> Corpus:
    """Read whitespace-tokenised text (plain or ``.gz``): one sentence per non-blank line.

    ``sent_id`` is the 1-based line number in the file. ``max_lines`` stops after that many
    sentences. There are no annotations (add some with :func:`rnnscope.corpus.derived.add_derived`
    or :func:`rnnscope.corpus.annotate.annotate_with_spacy`).
    """
    p = _existing(path)
    sentences: list[Sentence] = []
    with _opened(p) as handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                if max_lines is not None and len(sentences) >= max_lines:
                    break
                words = line.split()
                if words:
                    sentences.append(Sentence(words=words, sent_id=str(lineno)))
        except UnicodeDecodeError:
            raise not_utf8_error(p) from None
        except _READ_ERRORS as exc:
            raise CorpusError(f"{p.name}: cannot read ({brief(exc)})") from None
    if not sentences:
        raise CorpusError(f"{p}: empty corpus (no non-blank lines)")
    return Corpus(sentences, name=p.name)


# -- helpers ---------------------------------------------------------------------------------
def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise CorpusError(f"file not found: {p}")
    if p.is_dir():
        raise CorpusError(f"{p} is a directory, not a corpus file")
    return p


def open_text(p: Path) -> io.TextIOBase:
    """Open a UTF-8 text file for reading, transparently gunzipping `.gz` files."""
    if p.name.endswith(".gz"):
        return gzip.open(p, "rt", encoding="utf-8-sig")
    return open(p, encoding="utf-8-sig")


#: What reading a (gzipped) file can raise besides bad UTF-8: I/O errors, a truncated gzip
#: stream (EOFError), a corrupt one (``gzip.BadGzipFile`` is an OSError, bad deflate data a
#: ``zlib.error``).
_READ_ERRORS = (OSError, EOFError, zlib.error)


def _opened(p: Path) -> io.TextIOBase:
    try:
        return open_text(p)
    except OSError as exc:
        raise CorpusError(f"{p.name}: cannot open ({exc.strerror or exc})") from None


def not_utf8_error(p: Path) -> CorpusError:
    """The error for a file that is not UTF-8, naming the line of its first bad byte.

    Text-mode reading decodes in blocks of several kilobytes, so the line being read when the
    decoder fails is not the line at fault; the file is read again as bytes, one line at a time
    (lines end as in text mode: ``\\n``, ``\\r\\n`` or a lone ``\\r``), to find it.
    """
    lineno = 0
    try:
        with (gzip.open(p, "rb") if p.name.endswith(".gz") else open(p, "rb")) as raw:
            for chunk in raw:
                pieces = re.split(rb"\r(?!\n)", chunk)
                for piece in pieces[:-1] if pieces[-1] == b"" else pieces:
                    lineno += 1
                    try:
                        piece.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        return CorpusError(f"{p.name}:{lineno}: not UTF-8 text ({exc.reason} "
                                           f"at byte {exc.start + 1} of the line)")
    except _READ_ERRORS:
        pass
    return CorpusError(f"{p.name}: not UTF-8 text")
