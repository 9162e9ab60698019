"""Fuzzing the activation store's metadata and what reads it.

* ``ActivationStore.open`` (and reading everything it offers) on a copy of a tiny store whose
  ``meta.json``, ``tokens.parquet`` or ``COMPLETE`` was damaged, removed or edited: the
  store's exact contents or one clean :class:`~rnnscope.errors.StoreError` naming the store.
* ``extract(resume=True)`` on an interrupted extraction whose ``progress.json`` (or carried
  state file) was damaged or edited — more rows than exist, a ``state_file`` outside the
  store, wrong windows: the same store as an uninterrupted run, or one clean error.
* NaN/inf rows in a store: ``probe`` and ``concepts`` name the keys and how many rows, and
  ``--drop-nonfinite`` leaves exactly those rows out; out-of-range ``--k`` / ``--top`` are
  refused with one line.
"""
from __future__ import annotations

import functools
import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from rnnscope.analysis.concepts import concepts
from rnnscope.analysis.probe import MIN_TEST_ROWS, probe
from rnnscope.cli import main
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import StoreError
from rnnscope.extract import PROGRESS, extract
from rnnscope.store import ActivationStore
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model
from tests.test_fuzz_inputs import (JSON_VALUES, TIMEOUT, expect_clean, fuzz_settings, mutate,
                                    workdir)

N_ROWS, UNITS = 12, 3
_KEEP = tempfile.TemporaryDirectory(prefix="rnnscope-fuzz-store-")  # lives as long as the module


def _tokens(n: int, tags: list[str] | None = None) -> pd.DataFrame:
    tags = tags or [["DET", "NOUN", "VERB"][i % 3] for i in range(n)]
    return pd.DataFrame({"sentence": np.arange(n) // 4, "position": np.arange(n) % 4,
                         "token": [f"w{i % 5}" for i in range(n)],
                         "word": [f"w{i % 5}" for i in range(n)], "word_index": np.arange(n) % 4,
                         "is_word_end": np.ones(n, bool), "upos": tags})


@functools.lru_cache(maxsize=None)
def base_store() -> tuple[Path, dict, pd.DataFrame]:
    """A tiny finished store (built once), its arrays and its token table."""
    rng = np.random.default_rng(0)
    arrays = {k: rng.normal(size=(N_ROWS, UNITS)).astype(np.float32)
              for k in ("layer1.h", "layer1.c")}
    tokens = _tokens(N_ROWS)
    path = Path(_KEEP.name) / "base"
    ActivationStore.from_arrays(path, arrays, tokens, chunk_rows=4)
    return path, arrays, tokens


def read_everything(path: Path):
    """Open a store and read all it offers: meta, token table, every array."""
    store = ActivationStore.open(path)
    return store, store.tokens, {k: store.get(k) for k in store.keys()}, len(store)


META_KEYS = ["format", "keys", "n_rows", "hidden_size", "dtype", "chunk_rows", "compression",
             "generation", "tokens_sha256", "corpus", "bogus"]
META_VALUES = st.sampled_from([0, -1, 1, 3, 4, 12, 13, 12.0, True, None, "float16", "float32",
                               "float64", "rnnscope-store-1", "rnnscope-store-2", [],
                               ["layer1.h"], ["layer1.c", "layer1.h"], ["layer1.h", "layer1.h"],
                               ["layer0.h"], ["layer1.x"], ["h"], [1], "0" * 64, "zstd",
                               10**30]) | JSON_VALUES


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(160)
@given(target=st.sampled_from(["meta.json", "tokens.parquet", "COMPLETE"]),
       how=st.sampled_from(["bytes", "delete", "empty", "set", "drop_key"]),
       old=st.booleans(), data=st.data())
def test_store_open_on_damaged_metadata(target, how, old, data):
    base, arrays, tokens = base_store()
    with workdir() as d:
        path = Path(d) / "s"
        shutil.copytree(base, path)
        meta_path = path / "meta.json"
        if old:  # a store written before the token table's digest was recorded
            meta = json.loads(meta_path.read_text())
            meta.pop("tokens_sha256")
            meta_path.write_text(json.dumps(meta))
        file = path / target
        if how == "delete":
            file.unlink()
        elif how == "empty":
            file.write_bytes(b"")
        elif how in ("set", "drop_key") and target == "meta.json":
            meta = json.loads(file.read_text())
            if how == "set":
                meta[data.draw(st.sampled_from(META_KEYS))] = data.draw(META_VALUES)
            else:
                meta.pop(data.draw(st.sampled_from(sorted(meta))))
            file.write_text(json.dumps(meta))
        else:
            file.write_bytes(mutate(data, file.read_bytes(), allow_none=False)[0])
        got = expect_clean(lambda: read_everything(path), str(path))
    if got is None:
        return
    store, table, values, n = got
    assert n == N_ROWS and set(store.keys()) <= set(arrays) and store.keys()
    for k, v in values.items():
        np.testing.assert_array_equal(v, arrays[k])
    if old and target == "tokens.parquet":  # no digest: the parquet reader is all there is
        assert len(table) == N_ROWS
    else:
        pd.testing.assert_frame_equal(table, tokens)


# -- resuming an interrupted extraction -----------------------------------------------------------
WORDS = "the cat sat on a mat and dogs ran".split()


class Interrupt(Exception):
    pass


@functools.lru_cache(maxsize=None)
def interrupted(reset: str):
    """``(interrupted store, reference store, (model, vocab, corpus, settings))`` of one
    extraction in ``reset`` mode, stopped after 8 rows were safely on disk."""
    rng = np.random.default_rng(1)
    sentences = [Sentence([WORDS[j] for j in rng.integers(0, len(WORDS), int(rng.integers(1, 6)))])
                 for _ in range(10)]
    corpus = Corpus(sentences, name="toy")
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in sentences])
    model = tiny_model("lstm", layers=1, hidden=4, vocab=len(vocab), emb=4, seed=2)
    kw = dict(reset=reset, batch_size=2, chunk_rows=4, dtype="float32", progress=False)
    root = Path(_KEEP.name) / reset
    ref = extract(model, vocab, corpus, root / "ref", **kw)

    def stop(windows, flushed):
        if flushed >= 8:
            raise Interrupt

    with pytest.raises(Interrupt):
        extract(model, vocab, corpus, root / "cut", callback=stop, **kw)
    return root / "cut", Path(ref.path), (model, vocab, corpus, kw)


PROGRESS_KEYS = ["flushed_rows", "state_file", "state_window", "state_sha256", "bogus"]
PROGRESS_VALUES = st.sampled_from([0, 4, 8, 12, 16, 10**6, -4, 3, 4.0, True, None, "8",
                                   "state-0.npz", "state-1.npz", "state-2.npz", "state-99.npz",
                                   "../ref/meta.json", "/etc/passwd", "meta.json",
                                   "arrays.zarr", "state-1.npz/..", "", "0" * 64]) | JSON_VALUES


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(80)
@given(reset=st.sampled_from(["sentence", "carry"]),
       how=st.sampled_from(["set", "drop_key", "bytes", "doc", "state_bytes", "delete"]),
       data=st.data())
def test_resume_on_a_damaged_progress_record(reset, how, data):
    cut, ref, (model, vocab, corpus, kw) = interrupted(reset)
    with workdir() as d:
        path = Path(d) / "s"
        shutil.copytree(cut, path)
        prog = path / PROGRESS
        record = json.loads(prog.read_text())
        if how == "set":
            record[data.draw(st.sampled_from(PROGRESS_KEYS))] = data.draw(PROGRESS_VALUES)
            prog.write_text(json.dumps(record))
        elif how == "drop_key":
            record.pop(data.draw(st.sampled_from(sorted(record))))
            prog.write_text(json.dumps(record))
        elif how == "doc":
            prog.write_text(json.dumps(data.draw(JSON_VALUES)))
        elif how == "delete":
            prog.unlink()
        elif how == "state_bytes" and record.get("state_file"):
            state = path / record["state_file"]
            state.write_bytes(mutate(data, state.read_bytes(), allow_none=False)[0])
        else:
            prog.write_bytes(mutate(data, prog.read_bytes(), allow_none=False)[0])
        got = expect_clean(lambda: extract(model, vocab, corpus, path, resume=True, **kw),
                           str(path))
        if got is not None:  # resumed: the same store as the uninterrupted run
            want = ActivationStore.open(ref)
            assert got.keys() == want.keys()
            for k in want.keys():
                np.testing.assert_array_equal(got.get(k), want.get(k), err_msg=k)
            pd.testing.assert_frame_equal(got.tokens, want.tokens)


def test_progress_claiming_more_rows_than_exist_is_refused():
    cut, _, (model, vocab, corpus, kw) = interrupted("sentence")
    n_rows = json.loads((cut / "meta.json").read_text())["n_rows"]
    for claim, why in [(n_rows + 4, "but the store has"), (12, "chunks of layer1.h on disk")]:
        with workdir() as d:
            path = Path(d) / "s"
            shutil.copytree(cut, path)
            record = json.loads((path / PROGRESS).read_text())
            (path / PROGRESS).write_text(json.dumps({**record, "flushed_rows": claim}))
            with pytest.raises(StoreError, match=re.escape(why)):
                extract(model, vocab, corpus, path, resume=True, **kw)
            assert not (path / "COMPLETE").exists()


@pytest.mark.parametrize("name", ["../ref/state-1.npz", "/tmp/state-1.npz", "meta.json",
                                  "state-1.npz/../meta.json"])
def test_state_file_outside_the_store_is_refused(name):
    cut, _, (model, vocab, corpus, kw) = interrupted("carry")
    with workdir() as d:
        path = Path(d) / "s"
        shutil.copytree(cut, path)
        record = json.loads((path / PROGRESS).read_text())
        (path / PROGRESS).write_text(json.dumps({**record, "state_file": name}))
        with pytest.raises(StoreError, match="not one of the store's own state-N.npz"):
            extract(model, vocab, corpus, path, resume=True, **kw)


# -- NaN/inf rows, option ranges, small test sets -------------------------------------------------
def nan_store(folder: Path, bad_rows: list[int], value: float, n: int = 60) -> Path:
    rng = np.random.default_rng(3)
    tags = [["DET", "NOUN", "VERB"][i % 3] for i in range(n)]
    h = rng.normal(size=(n, UNITS)).astype(np.float32)
    h[:, 0] += 3 * np.array([t == "NOUN" for t in tags])
    c = h.copy()
    for r in bad_rows:
        h[r, r % UNITS] = value
    ActivationStore.from_arrays(folder / "s", {"layer1.h": h, "layer1.c": c}, _tokens(n, tags))
    return folder / "s"


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(30)
@given(bad=st.lists(st.integers(0, 59), min_size=1, max_size=5, unique=True),
       value=st.sampled_from([np.nan, np.inf, -np.inf]), drop=st.booleans(),
       which=st.sampled_from(["probe", "concepts"]))
def test_nonfinite_rows_are_named_or_dropped(bad, value, drop, which):
    with workdir() as d:
        path = nan_store(Path(d), bad, value)
        store = ActivationStore.open(path)
        if which == "probe":
            run = lambda: probe(store, "upos", progress=False, control=False,  # noqa: E731
                                drop_nonfinite=drop)
        else:
            run = lambda: concepts(store, feature="upos", key="layer1.h", k=1,  # noqa: E731
                                   drop_nonfinite=drop)
        if not drop:
            with pytest.raises(StoreError) as err:
                run()
            msg = str(err.value)
            assert str(path) in msg and f"in {len(bad)} of the 60 rows" in msg
            assert f"layer1.h: {len(bad)} row" in msg and "layer1.c" not in msg
            assert "--drop-nonfinite" in msg
            return
        res = run()
        note = next(n for n in res.notes if n.startswith("--drop-nonfinite"))
        assert f"left out {len(bad)} of the 60 rows" in note
        if which == "probe":
            assert int(res.table["n_train"].iloc[0] + res.table["n_test"].iloc[0]) == 60 - len(bad)
        else:
            assert sum(res.n_split) == 60 - len(bad)


@pytest.mark.timeout(TIMEOUT)
@fuzz_settings(20)
@given(cmd=st.sampled_from(["concepts-k", "correlate-top", "causality-top"]),
       value=st.integers(-3, 4) | st.sampled_from([100_000, 10**9]))
def test_option_ranges_are_checked_against_the_data(cmd, value):
    with workdir() as d:
        path = nan_store(Path(d), [], 0.0)
        if cmd == "concepts-k":
            args = ["concepts", str(path), "--feature", "upos", "--key", "layer1.h",
                    "--k", str(value)]
            ok, option = 1 <= value <= UNITS, "--k"
        elif cmd == "correlate-top":
            args = ["correlate", str(path), "--features", "position", "--top", str(value)]
            ok, option = value >= 1, "--top"
        else:  # a bad --top is refused before the (missing) model is looked at
            args = ["concept-causality", str(path), "--model", str(Path(d) / "none"),
                    "--top", str(value)]
            ok, option = value >= 1, "--top"
        out = CliRunner().invoke(main, args)
        if not ok:
            assert out.exit_code == 2 and out.output.startswith("error:"), out.output
            assert out.output.count("\n") == 1 and option in out.output
        elif cmd == "causality-top":
            assert out.exit_code == 2 and "model not found" in out.output, out.output
        else:
            assert out.exit_code == 0, out.output


def test_a_probe_on_a_handful_of_rows_warns():
    with workdir() as d:
        rng = np.random.default_rng(0)
        n = 30
        tags = [["DET", "NOUN", "VERB"][i % 3] for i in range(n)]
        ActivationStore.from_arrays(Path(d) / "s", {"layer1.h": rng.normal(size=(n, 2))},
                                    _tokens(n, tags))
        res = probe(ActivationStore.open(Path(d) / "s"), "upos", progress=False)
        assert int(res.table["n_test"].iloc[0]) < MIN_TEST_ROWS
        assert any(n.startswith("warning: only") and f"fewer than {MIN_TEST_ROWS}" in n
                   for n in res.notes)
        res = concepts(ActivationStore.open(Path(d) / "s"), feature="upos", key="layer1.h", k=1)
        assert any(n.startswith("warning: only") for n in res.notes)

