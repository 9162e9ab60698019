"""Fuzzing the readers: for every generated malformed input, a correct result or one clean
error naming the file, never another exception type and never a hang.

Inputs are built from a generated *valid* file (whose expected reading is known, so the
unmutated case checks the result exactly) and then, most of the time, damaged: bytes flipped,
inserted, deleted or cut off, lines dropped, doubled or swapped, tab-separated fields replaced
by awkward values (``_``, ``-1``, ``Number``, ``²`` ...) or removed. Readers covered: CoNLL-U,
plain text, ``.gz`` (also corrupt gzip), non-UTF-8 bytes at a known line, the agreement
formats (Linzen ``.text``/``.gold``, Gulordava, Lakretz 4- and 5-column) and the
minimal-pairs readers (Marvin & Linzen JSON, BLiMP JSON lines).

Each fuzz test runs the ``max_examples`` of its :func:`fuzz_settings` (derandomised: the same
inputs every run, a few seconds per test); ``RNNSCOPE_FUZZ_SCALE=N`` runs N times as many,
freshly random, for a deeper hunt. The other fuzz modules (``test_fuzz_checkpoints``,
``test_fuzz_store``) share the helpers here.
"""
from __future__ import annotations

import gzip
import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnscope.agreement.formats import (read_gulordava, read_lakretz, read_lakretz_stimuli,
                                        read_linzen)
from rnnscope.agreement.minimal_pairs import read_blimp, read_marvin_linzen
from rnnscope.corpus.derived import add_derived
from rnnscope.corpus.readers import CONLLU_COLUMNS, read_conllu, read_corpus, read_text
from rnnscope.errors import RnnscopeError

#: Per-example time limit: far above what any input here needs (milliseconds), low enough that
#: a reader stuck in a loop fails the test instead of stalling it.
DEADLINE = timedelta(seconds=10)


#: ``RNNSCOPE_FUZZ_SCALE=20`` runs twenty times the inputs, freshly random each run (a deeper
#: hunt); by default every run tries the same, few enough for the suite's time budget.
SCALE = int(os.environ.get("RNNSCOPE_FUZZ_SCALE", "1"))
#: Per-test time limit (pytest-timeout): the guard against a reader that never returns.
TIMEOUT = 120 * SCALE


def fuzz_settings(n: int) -> settings:
    """Hypothesis settings for ``n`` generated inputs (times :data:`SCALE`): no example
    database (nothing is written into the checkout), derandomised unless scaled up."""
    return settings(max_examples=n * SCALE, deadline=DEADLINE, database=None,
                    derandomize=SCALE == 1,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def expect_clean(fn, *names: str):
    """``fn()``'s result, or ``None`` after a clean :class:`RnnscopeError`: one line that names
    one of ``names`` (the file, or the files, at fault). Any other exception fails the test."""
    try:
        return fn()
    except RnnscopeError as exc:
        msg = str(exc)
        assert len(msg.splitlines()) == 1, f"error message is not one line: {msg!r}"
        assert any(n in msg for n in names), f"error does not name {names}: {msg!r}"
        return None


# -- mutations ------------------------------------------------------------------------------------
#: Field values that trip parsers: empty, placeholders, signs, non-ASCII digits, half pairs ...
AWKWARD = ["", "_", "0", "-1", "+1", "x", "99999999999", "1-2", "2-1", "1.1", "0.5", "Number",
           "Number=", "=Sing", "Number=Sing|", "a=b=c", "Number=Sing|Number=Plur", "²", "٣",
           " ", "\u00a0", "\u2028", "\x0b", "#", "1e9", "nan", "SpaceAfter", "SpaceAfter=No",
           "singular", "plural_singular", "correct", "wrong", "\"", "[", "{}", "\ufeff"]
MUTATIONS = ["none", "flip", "insert", "delete", "truncate", "drop_line", "dup_line",
             "swap_lines", "replace_line", "replace_field", "drop_field", "add_field",
             "bad_utf8"]


def mutate(data, blob: bytes, allow_none: bool = True) -> tuple[bytes, str]:
    """``blob`` damaged by one drawn mutation (or left alone: ``"none"``)."""
    kinds = MUTATIONS if allow_none else MUTATIONS[1:]
    kind = data.draw(st.sampled_from(kinds), label="mutation")
    if kind == "none" or not blob:
        return blob, "none"
    n = len(blob)
    if kind == "flip":
        i = data.draw(st.integers(0, n - 1))
        return blob[:i] + bytes([blob[i] ^ data.draw(st.integers(1, 255))]) + blob[i + 1:], kind
    if kind == "insert":
        i = data.draw(st.integers(0, n))
        extra = data.draw(st.binary(min_size=1, max_size=6) | st.sampled_from(
            [b"\t", b"\n", b"\r", b"\xff", b"\x00", b"\t_", b"\n\n", b"#", b"{", b"\x1f\x8b"]))
        return blob[:i] + extra + blob[i:], kind
    if kind == "delete":
        i = data.draw(st.integers(0, n - 1))
        j = data.draw(st.integers(i + 1, min(n, i + 12)))
        return blob[:i] + blob[j:], kind
    if kind == "truncate":
        return blob[:data.draw(st.integers(0, n - 1))], kind
    if kind == "bad_utf8":
        i = data.draw(st.integers(0, n))
        return blob[:i] + data.draw(st.sampled_from([b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80"])) \
            + blob[i:], kind
    lines = blob.split(b"\n")
    k = data.draw(st.integers(0, len(lines) - 1))
    if kind == "drop_line":
        del lines[k]
    elif kind == "dup_line":
        lines.insert(k, lines[k])
    elif kind == "swap_lines":
        j = data.draw(st.integers(0, len(lines) - 1))
        lines[k], lines[j] = lines[j], lines[k]
    elif kind == "replace_line":
        lines[k] = data.draw(st.sampled_from(AWKWARD)).encode()
    else:
        fields = lines[k].split(b"\t")
        f = data.draw(st.integers(0, len(fields) - 1))
        if kind == "replace_field":
            fields[f] = data.draw(st.sampled_from(AWKWARD) | st.text(max_size=4)).encode()
        elif kind == "drop_field":
            del fields[f]
        else:
            fields.insert(f, data.draw(st.sampled_from(AWKWARD)).encode())
        lines[k] = b"\t".join(fields)
    return b"\n".join(lines), kind


def workdir():
    return tempfile.TemporaryDirectory(prefix="rnnscope-fuzz-")


# -- CoNLL-U --------------------------------------------------------------------------------------
#: Word forms: anything but the characters that end a line or a field.
FORM = st.text(st.characters(blacklist_characters="\t\n\r", blacklist_categories=("Cs",)),
               min_size=1, max_size=5).filter(lambda s: s.strip() == s and s.strip())
FEAT_NAMES = ["Number", "Case", "Gender", "Tense", "VerbForm"]
FEAT_VALUES = ["Sing", "Plur", "Nom", "Acc", "Past", "Fin", "Int,Rel"]


@st.composite
def conllu_sentences(draw):
    """``[(words, upos, feats, heads, space_after), ...]`` of a valid CoNLL-U file."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 5))
        words = [draw(FORM) for _ in range(n)]
        upos = [draw(st.sampled_from(["NOUN", "VERB", "DET", "_"])) for _ in range(n)]
        feat = st.dictionaries(st.sampled_from(FEAT_NAMES), st.sampled_from(FEAT_VALUES),
                               max_size=2)
        feats = [dict(sorted(draw(feat).items())) for _ in range(n)]
        order = draw(st.permutations(range(n)))  # a random tree: the first word is the root
        heads = [0] * n
        for j in range(1, n):
            heads[order[j]] = order[draw(st.integers(0, j - 1))] + 1
        space = [draw(st.booleans()) for _ in range(n)]
        out.append((words, upos, feats, heads, space))
    return out


def conllu_text(sentences) -> str:
    blocks = []
    for s, (words, upos, feats, heads, space) in enumerate(sentences, start=1):
        lines = [f"# sent_id = s{s}"]
        for i, w in enumerate(words):
            f = "|".join(f"{k}={v}" for k, v in feats[i].items()) or "_"
            misc = "_" if space[i] else "SpaceAfter=No"
            lines.append("\t".join([str(i + 1), w, "_", upos[i], "_", f, str(heads[i]), "dep",
                                    "_", misc]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def check_corpus_invariants(corpus) -> None:
    """What every successfully read CoNLL-U corpus guarantees, however odd its input."""
    for s in corpus:
        n = len(s.words)
        assert n >= 1 and all(isinstance(w, str) for w in s.words)
        for col in CONLLU_COLUMNS:
            assert len(s.annotations[col]) == n
        assert all(h is None or (isinstance(h, int) and 0 <= h <= n) for h in s.annotations["head"])
        for f in s.annotations["feats"]:
            assert isinstance(f, dict)
            assert all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in f.items())
        assert len(s.space_after) == n


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(300)
@given(sentences=conllu_sentences(), gz=st.booleans(), data=st.data())
def test_conllu_reader_fuzzed(sentences, gz, data):
    raw = conllu_text(sentences).encode("utf-8")
    blob, kind = mutate(data, raw)
    with workdir() as d:
        path = Path(d) / ("x.conllu.gz" if gz else "x.conllu")
        path.write_bytes(gzip.compress(blob, mtime=0) if gz else blob)
        corpus = expect_clean(lambda: add_derived(read_corpus(path)), path.name)
    if kind == "none":  # the valid file: read exactly as written
        assert corpus is not None
        assert [s.words for s in corpus] == [s[0] for s in sentences]
        assert [s.annotations["upos"] for s in corpus] == \
            [[None if u == "_" else u for u in s[1]] for s in sentences]
        assert [s.annotations["feats"] for s in corpus] == [s[2] for s in sentences]
        assert [s.annotations["head"] for s in corpus] == [s[3] for s in sentences]
        assert [s.space_after for s in corpus] == [s[4] for s in sentences]
        assert [s.sent_id for s in corpus] == [f"s{i}" for i in range(1, len(sentences) + 1)]
    if corpus is not None:
        check_corpus_invariants(corpus)


@pytest.mark.parametrize("line", [1, 2, 3])
@pytest.mark.parametrize("value", ["Number", "Number=Sing|Case", "=Sing", "Number=",
                                   "Number=Sing|Number=Plur", "Number=Sing|", "|"])
def test_conllu_feats_without_a_value_are_refused_at_their_line(value, line):
    rows = [["1", "a", "_", "NOUN", "_", "_", "0", "root", "_", "_"],
            ["2", "b", "_", "NOUN", "_", "_", "1", "dep", "_", "_"],
            ["3", "c", "_", "NOUN", "_", "_", "1", "dep", "_", "_"]]
    rows[line - 1][5] = value
    with workdir() as d:
        path = Path(d) / "f.conllu"
        path.write_text("\n".join("\t".join(r) for r in rows) + "\n", encoding="utf-8")
        with pytest.raises(RnnscopeError, match=rf"f\.conllu:{line}: bad FEATS"):
            read_conllu(path)


@pytest.mark.parametrize("line", [1, 2, 3])
@pytest.mark.parametrize("head", ["4", "99", "-1", "x", "²", "٣", "1.5", ""])
def test_conllu_head_errors_name_their_line(head, line):
    rows = [["1", "a", "_", "NOUN", "_", "_", "0", "root", "_", "_"],
            ["2", "b", "_", "NOUN", "_", "_", "1", "dep", "_", "_"],
            ["3", "c", "_", "NOUN", "_", "_", "1", "dep", "_", "_"]]
    rows[line - 1][6] = head
    with workdir() as d:
        path = Path(d) / "h.conllu"
        path.write_text("# sent_id = s\n" + "\n".join("\t".join(r) for r in rows) + "\n",
                        encoding="utf-8")
        with pytest.raises(RnnscopeError, match=rf"h\.conllu:{line + 1}: (bad )?HEAD"):
            read_conllu(path)


@pytest.mark.parametrize("heads,line", [((2, 1, 0), 2), ((0, 3, 2), 3), ((1, 0, 0), 2),
                                        ((2, 3, 1), 2)])
def test_conllu_head_cycles_name_a_line(heads, line):
    rows = [[str(i + 1), w, "_", "NOUN", "_", "_", str(h), "dep", "_", "_"]
            for i, (w, h) in enumerate(zip("abc", heads))]
    with workdir() as d:
        path = Path(d) / "y.conllu"
        path.write_text("# sent_id = s\n" + "\n".join("\t".join(r) for r in rows) + "\n",
                        encoding="utf-8")
        with pytest.raises(RnnscopeError, match=rf"y\.conllu:{line}: HEAD \d closes a cycle"):
            read_conllu(path)


# -- plain text, gzip, UTF-8 ----------------------------------------------------------------------
LINE = st.text(st.characters(blacklist_characters="\r\n\ufeff", blacklist_categories=("Cs",)),
               max_size=12)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(lines=st.lists(LINE, min_size=1, max_size=8), sep=st.sampled_from(["\n", "\r\n"]),
       bom=st.booleans(), gz=st.booleans(), data=st.data())
def test_text_reader_fuzzed(lines, sep, bom, gz, data):
    text = ("\ufeff" if bom else "") + sep.join(lines) + sep
    blob, kind = mutate(data, text.encode("utf-8"))
    with workdir() as d:
        path = Path(d) / ("t.txt.gz" if gz else "t.txt")
        path.write_bytes(gzip.compress(blob, mtime=0) if gz else blob)
        corpus = expect_clean(lambda: read_text(path), path.name)
    expected = [(str(i), ln.split()) for i, ln in enumerate(lines, start=1) if ln.split()]
    if kind == "none":
        if not expected:
            assert corpus is None  # an empty corpus is an error
        else:
            assert [(s.sent_id, s.words) for s in corpus] == expected
    if corpus is not None:
        assert all(s.words and all(w.split() == [w] for w in s.words) for s in corpus)


BAD_UTF8 = st.sampled_from([b"\xff", b"\xfe", b"\xc3", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80",
                            b"\xe2\x82", b"\xf4\x90\x80\x80"])


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(lines=st.lists(LINE, min_size=1, max_size=40), sep=st.sampled_from(["\n", "\r\n", "\r"]),
       bad=BAD_UTF8, gz=st.booleans(), conllu=st.booleans(), data=st.data())
def test_non_utf8_is_reported_at_its_real_line(lines, sep, bad, gz, conllu, data):
    k = data.draw(st.integers(0, len(lines) - 1), label="bad line")
    cut = data.draw(st.integers(0, len(lines[k])), label="position in the line")
    pad = data.draw(st.integers(0, 3000), label="padding")  # pushes the line past a decoder block
    lines = [ln + " x" * pad if i == 0 and k > 0 else ln for i, ln in enumerate(lines)]
    before = sep.join(lines[:k]) + (sep if k else "")
    line = lines[k]
    blob = before.encode() + line[:cut].encode() + bad + line[cut:].encode() + \
        (sep + sep.join(lines[k + 1:]) + sep).encode()
    name = ("c.conllu" if conllu else "t.txt") + (".gz" if gz else "")
    with workdir() as d:
        path = Path(d) / name
        path.write_bytes(gzip.compress(blob, mtime=0) if gz else blob)
        with pytest.raises(RnnscopeError) as err:
            read_corpus(path)
    msg = str(err.value)
    if conllu and not msg.startswith(f"{name}:{k + 1}: not UTF-8"):
        # CoNLL-U may refuse a line before the bad one for its columns; never a wrong line number
        assert "not UTF-8" not in msg, msg
    else:
        assert msg.startswith(f"{name}:{k + 1}: not UTF-8 text"), msg


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(150)
@given(lines=st.lists(LINE, min_size=1, max_size=6), data=st.data())
def test_corrupt_gzip_is_an_error_or_the_exact_text(lines, data):
    text = "\n".join(lines) + "\nend\n"
    gz = gzip.compress(text.encode(), mtime=0)
    blob, kind = mutate(data, gz, allow_none=False)
    with workdir() as d:
        path = Path(d) / "t.txt.gz"
        path.write_bytes(blob)
        corpus = expect_clean(lambda: read_text(path), path.name)
    if corpus is not None:  # gzip's CRC: whatever decompresses is the original text
        expected = [ln.split() for ln in text.split("\n") if ln.split()]
        assert [s.words for s in corpus] == expected


# -- agreement formats ----------------------------------------------------------------------------
WORD = st.text("abcdefgh", min_size=1, max_size=4)


@st.composite
def linzen_items(draw):
    out = []
    for _ in range(draw(st.integers(1, 4))):
        tokens = draw(st.lists(WORD, min_size=1, max_size=6))
        idx = draw(st.integers(0, len(tokens) - 1))
        out.append((tokens, idx, draw(WORD), draw(WORD), str(draw(st.integers(0, 3)))))
    return out


def _write(path: Path, blob: bytes, gz: bool) -> None:
    path.write_bytes(gzip.compress(blob, mtime=0) if gz else blob)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(items=linzen_items(), gz=st.booleans(), which=st.sampled_from(["text", "gold"]),
       data=st.data())
def test_linzen_reader_fuzzed(items, gz, which, data):
    text = "".join(" ".join(t) + "\n" for t, *_ in items).encode()
    gold = "".join(f"{i}\t{c}\t{w}\t{a}\n" for _, i, c, w, a in items).encode()
    if which == "text":
        text, kind = mutate(data, text)
    else:
        gold, kind = mutate(data, gold)
    ext = ".gz" if gz else ""
    with workdir() as d:
        tp, gp = Path(d) / f"s.text{ext}", Path(d) / f"s.gold{ext}"
        _write(tp, text, gz)
        _write(gp, gold, gz)
        got = expect_clean(lambda: read_linzen(tp), tp.name, gp.name)
    if kind == "none":
        assert [(it.prefix, it.correct, it.wrong, it.condition) for it in got] == \
            [(tuple(t[:i]), c, w, a) for t, i, c, w, a in items]
    for it in got or []:
        assert isinstance(it.prefix, tuple) and all(isinstance(w, str) for w in it.prefix)
        assert it.source.startswith(str(gp) + ":")


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(150)
@given(items=linzen_items(), variants=st.lists(st.integers(0, 9), min_size=4, max_size=4),
       which=st.sampled_from(["text", "gold"]), data=st.data())
def test_gulordava_reader_fuzzed(items, variants, which, data):
    text = "".join(" ".join(t) + " <eos>\n" for t, *_ in items).encode()
    gold = "".join("\t".join(["PAT", "x", str(v), str(i), "VERB", "Number=Plur", c, w, "be", "1",
                              "NOUN", " ".join(t)]) + "\n"
                   for (t, i, c, w, _), v in zip(items, variants)).encode()
    if which == "text":
        text, kind = mutate(data, text)
    else:
        gold, kind = mutate(data, gold)
    with workdir() as d:
        folder = Path(d) / "English"
        folder.mkdir()
        tp, gp = folder / "generated.text", folder / "generated.gold"
        tp.write_bytes(text)
        gp.write_bytes(gold)
        got = expect_clean(lambda: read_gulordava(tp), tp.name, gp.name)
    if kind == "none":
        assert [(it.prefix, it.correct, it.wrong, it.condition, it.extra["variant"])
                for it in got] == [(tuple(t[:i]), c, w, "original" if v == 0 else "nonce", v)
                                   for (t, i, c, w, _), v in zip(items, variants)]
        assert all(it.extra["language"] == "English" for it in got)


LAKRETZ_CONDS = {"singular": "S", "plural": "P", "singular_singular": "SS",
                 "singular_plural": "SP", "plural_singular": "PS", "plural_plural": "PP"}


@st.composite
def lakretz_items(draw):
    out = []
    for n in range(draw(st.integers(1, 4))):
        prefix = draw(st.lists(WORD, min_size=1, max_size=5))
        out.append((prefix, draw(st.sampled_from(sorted(LAKRETZ_CONDS))), draw(WORD), draw(WORD),
                    f"id{n}"))
    return out


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(items=lakretz_items(), gz=st.booleans(), data=st.data())
def test_lakretz_four_column_reader_fuzzed(items, gz, data):
    lines = []
    for prefix, cond, correct, wrong, item_id in items:
        lines.append(f"{' '.join(prefix)} {correct}\t{cond}\tcorrect\t{item_id}")
        lines.append(f"{' '.join(prefix)} {wrong}\t{cond}\twrong\t{item_id}")
    blob, kind = mutate(data, ("\n".join(lines) + "\n").encode())
    with workdir() as d:
        path = Path(d) / ("mytask.txt.gz" if gz else "mytask.txt")
        _write(path, blob, gz)
        got = expect_clean(lambda: read_lakretz(path), path.name)
    if kind == "none":
        assert [(it.prefix, it.condition, it.correct, it.wrong, it.item_id) for it in got] == \
            [(tuple(p), LAKRETZ_CONDS[c], co, w, i) for p, c, co, w, i in items]
    for it in got or []:
        assert it.prefix and it.condition in LAKRETZ_CONDS.values()
        assert it.source.startswith(str(path) + ":")


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(items=lakretz_items(), pair=st.booleans(), which=st.sampled_from(["txt", "text", "gold"]),
       data=st.data())
def test_lakretz_five_column_stimuli_fuzzed(items, pair, which, data):
    rows, text, gold = [], [], []
    for prefix, cond, correct, wrong, _ in items:
        subj, _, attr = cond.partition("_")
        rows.append("\t".join(["nounpp", " ".join(prefix + [correct]), subj, attr or "singular",
                               wrong]))
        text.append(" ".join(prefix + [correct]) + " <eos>")
        gold.append(f"{len(prefix)}\t{correct}\t{wrong}\t-999")
    files = {"txt": ("\n".join(rows) + "\n").encode(), "text": ("\n".join(text) + "\n").encode(),
             "gold": ("\n".join(gold) + "\n").encode()}
    if which != "txt" and not pair:
        which = "txt"
    files[which], kind = mutate(data, files[which])
    with workdir() as d:
        paths = {k: Path(d) / f"nounpp.{k}" for k in files}
        for k, blob in files.items():
            if k == "txt" or pair:
                paths[k].write_bytes(blob)
        names = [p.name for p in paths.values()]
        got = expect_clean(lambda: read_lakretz(paths["txt"]), *names)
        if pair:  # read from the .text of the pair too: the same items
            again = expect_clean(lambda: read_lakretz_stimuli(paths["text"]), *names)
            assert (got is None) == (again is None)
    if kind == "none":
        conds = [LAKRETZ_CONDS[c if "_" in c else f"{c}_singular"] for _, c, *_ in items]
        assert [(it.prefix, it.correct, it.wrong, it.condition) for it in got] == \
            [(tuple(p), co, w, c) for (p, _, co, w, _), c in zip(items, conds)]


# -- minimal pairs --------------------------------------------------------------------------------
SENTENCE = st.lists(WORD, min_size=1, max_size=4).map(" ".join)
def _json_containers(kids):
    return st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)


#: Any JSON document (small): what a tampered file may hold where an object was expected.
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                           | st.text(max_size=5), _json_containers, max_leaves=10)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(templates=st.dictionaries(st.sampled_from(["simple_agrmt", "npi_across_anim", "vp_coord"]),
                                 st.dictionaries(st.sampled_from(["sing", "plur", "past"]),
                                                 st.lists(st.lists(SENTENCE, min_size=2,
                                                                   max_size=3),
                                                          min_size=1, max_size=2),
                                                 min_size=1, max_size=2),
                                 min_size=1, max_size=2),
       gz=st.booleans(), junk=st.one_of(st.none(), JSON_VALUES), data=st.data())
def test_marvin_linzen_reader_fuzzed(templates, gz, junk, data):
    doc = templates if junk is None else {"simple_agrmt": {"sing": junk}} if data.draw(
        st.booleans()) else junk
    blob, kind = mutate(data, json.dumps(doc, indent=1).encode())
    with workdir() as d:
        path = Path(d) / ("t.json.gz" if gz else "t.json")
        _write(path, blob, gz)
        got = expect_clean(lambda: read_marvin_linzen(path), path.name)
    if kind == "none" and junk is None:
        assert [(p.task, p.condition, p.sentences) for p in got] == \
            [(t, c, tuple(e)) for t, conds in templates.items() for c, es in conds.items()
             for e in es]
    for p in got or []:
        assert 2 <= len(p.sentences) <= 3 and all(isinstance(s, str) and s for s in p.sentences)
        assert p.source.startswith(str(path) + ":")


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(200)
@given(records=st.lists(st.tuples(SENTENCE, SENTENCE, WORD, WORD), min_size=1, max_size=4),
       junk=st.one_of(st.none(), JSON_VALUES), gz=st.booleans(), folder=st.booleans(),
       data=st.data())
def test_blimp_reader_fuzzed(records, junk, gz, folder, data):
    lines = [json.dumps({"sentence_good": g, "sentence_bad": b, "UID": u,
                         "linguistics_term": t, "field": "f", "pairID": str(n)})
             for n, (g, b, u, t) in enumerate(records)]
    if junk is not None:
        lines.insert(data.draw(st.integers(0, len(lines))), json.dumps(junk))
    blob, kind = mutate(data, ("\n".join(lines) + "\n").encode())
    with workdir() as d:
        path = Path(d) / ("b.jsonl.gz" if gz else "b.jsonl")
        _write(path, blob, gz)
        got = expect_clean(lambda: read_blimp(Path(d) if folder else path),
                           *([path.name, d] if folder else [path.name]))
    if kind == "none" and junk is None:
        assert [(p.task, p.condition, p.sentences, p.item_id) for p in got] == \
            [(u, t, (g, b), str(n)) for n, (g, b, u, t) in enumerate(records)]
    for p in got or []:
        assert len(p.sentences) == 2 and all(isinstance(s, str) for s in p.sentences)
