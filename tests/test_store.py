"""ActivationStore: round trips, lazy access, selection, completeness, dtype, fsspec URLs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnscope.errors import StoreError
from rnnscope.store import COMPLETE, ActivationStore, StoreWriter, store_state


def _tokens(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    upos = rng.choice(["NOUN", "VERB", "DET"], size=n)
    return pd.DataFrame({
        "sentence": np.arange(n) // 7, "position": np.arange(n) % 7,
        "token": [f"w{i}" for i in range(n)], "word": [f"w{i}" for i in range(n)],
        "word_index": np.arange(n) % 7, "is_word_end": np.ones(n, dtype=bool),
        "upos": upos, "Number": np.where(upos == "NOUN", "Sing", None),
    })


def test_from_arrays_roundtrip_with_planted_unit(tmp_path):
    n, h = 1000, 12
    tokens = _tokens(n)
    rng = np.random.default_rng(1)
    acts = rng.normal(size=(n, h)).astype(np.float32)
    acts[:, 5] = (tokens["upos"] == "NOUN").to_numpy() * 4.0  # planted noun unit
    ActivationStore.from_arrays(tmp_path / "s", {"layer1.h": acts, "layer2.c": -acts}, tokens,
                                meta={"vocab_kind": "word"}, chunk_rows=128)
    store = ActivationStore.open(tmp_path / "s")
    assert store.keys() == ["layer1.h", "layer2.c"]
    assert len(store) == n and store.hidden_size == h and store.dtype == "float32"
    np.testing.assert_array_equal(store.get("layer1.h"), acts)
    np.testing.assert_array_equal(np.asarray(store["layer2.c"]), -acts)
    assert store["layer1.h"].chunks == (128, h)  # chunked by rows, read lazily
    nouns = store.select("layer1.h", upos="NOUN")
    assert len(nouns) == (tokens["upos"] == "NOUN").sum()
    assert np.all(nouns[:, 5] == 4.0)
    assert np.all(store.select("layer1.h", upos=["VERB", "DET"])[:, 5] == 0.0)
    both = store.mask(upos="NOUN", Number="Sing")
    np.testing.assert_array_equal(both, (tokens["upos"] == "NOUN").to_numpy())
    np.testing.assert_allclose(store.mean("layer1.h"), acts.mean(axis=0), rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(store.tokens[["sentence", "upos"]], tokens[["sentence", "upos"]],
                                  check_dtype=False)
    assert store.meta["vocab_kind"] == "word"


def test_get_rows_by_index_and_mask(tmp_path):
    tokens = _tokens(50)
    acts = np.arange(50 * 3, dtype=np.float32).reshape(50, 3)
    store = ActivationStore.from_arrays(tmp_path / "s", {"layer1.h": acts}, tokens, chunk_rows=8)
    idx = np.array([49, 3, 17, 3])
    np.testing.assert_array_equal(store.get("layer1.h", idx), acts[idx])
    mask = np.zeros(50, dtype=bool)
    mask[[2, 40]] = True
    np.testing.assert_array_equal(store.get("layer1.h", mask), acts[mask])
    assert store.get("layer1.h", []).shape == (0, 3)
    with pytest.raises(StoreError, match="row mask"):
        store.get("layer1.h", np.ones(3, dtype=bool))


def test_float16_default_and_float32(tmp_path):
    tokens = _tokens(20)
    acts = np.random.default_rng(0).normal(size=(20, 4))
    w16 = StoreWriter.create(tmp_path / "a", 20, ["layer1.h"], 4)
    w16.write("layer1.h", 0, acts)
    s16 = w16.finalize(tokens)
    w32 = StoreWriter.create(tmp_path / "b", 20, ["layer1.h"], 4, dtype="float32")
    w32.write("layer1.h", 0, acts)
    s32 = w32.finalize(tokens)
    assert s16.dtype == "float16" and s16["layer1.h"].dtype == np.float16
    assert s32["layer1.h"].dtype == np.float32
    assert s16.get("layer1.h").dtype == np.float32  # get always gives float32
    np.testing.assert_array_equal(s16.get("layer1.h"), acts.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(s32.get("layer1.h"), acts.astype(np.float32))
    with pytest.raises(StoreError, match="float16 or float32"):
        StoreWriter.create(tmp_path / "c", 20, ["layer1.h"], 4, dtype="int8")


def test_incomplete_store_is_refused(tmp_path):
    writer = StoreWriter.create(tmp_path / "s", 10, ["layer1.h"], 2)
    writer.write("layer1.h", 0, np.ones((5, 2)))
    assert store_state(tmp_path / "s") == "incomplete"
    with pytest.raises(StoreError, match="--resume"):
        ActivationStore.open(tmp_path / "s")
    with pytest.raises(StoreError, match="no activation store"):
        ActivationStore.open(tmp_path / "nothing")
    with pytest.raises(StoreError, match="already exists"):
        StoreWriter.create(tmp_path / "s", 10, ["layer1.h"], 2)
    resumed = StoreWriter.reopen(tmp_path / "s")
    resumed.write("layer1.h", 5, np.full((5, 2), 2.0))
    store = resumed.finalize(_tokens(10))
    assert (tmp_path / "s" / COMPLETE).exists()
    np.testing.assert_array_equal(store.get("layer1.h")[:, 0], [1] * 5 + [2] * 5)


def test_bad_keys_and_shapes_give_store_errors(tmp_path):
    tokens = _tokens(10)
    store = ActivationStore.from_arrays(tmp_path / "s", {"layer1.h": np.zeros((10, 2))}, tokens)
    with pytest.raises(StoreError, match="has no 'layer1.c'"):
        store["layer1.c"]
    with pytest.raises(StoreError, match="has no column"):
        store.select("layer1.h", colour="red")
    with pytest.raises(StoreError, match="rows"):
        ActivationStore.from_arrays(tmp_path / "t", {"layer1.h": np.zeros((9, 2))}, tokens)


def test_concurrent_writers_of_distinct_chunks(tmp_path):
    """Two processes fill disjoint chunks of one preallocated store; the result is exact."""
    from concurrent.futures import ProcessPoolExecutor

    n, h = 300, 5
    acts = np.random.default_rng(3).normal(size=(n, h)).astype(np.float32)
    writer = StoreWriter.create(tmp_path / "s", n, ["layer1.h"], h, dtype="float32", chunk_rows=64)
    bounds = writer.chunk_bounds()
    jobs = [bounds[0::2], bounds[1::2]]
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_fill, [str(tmp_path / "s")] * 2, jobs, [acts] * 2))
    store = StoreWriter.reopen(tmp_path / "s").finalize(_tokens(n))
    np.testing.assert_array_equal(store.get("layer1.h"), acts)


def _fill(path: str, bounds: list, acts: np.ndarray) -> None:
    w = StoreWriter.reopen(path)
    for start, stop in bounds:
        w.write("layer1.h", start, acts[start:stop])


def test_fsspec_url(tmp_path):
    tokens = _tokens(30)
    acts = np.random.default_rng(2).normal(size=(30, 3)).astype(np.float32)
    ActivationStore.from_arrays("memory://rnnscope-test/s", {"layer1.h": acts}, tokens, overwrite=True)
    store = ActivationStore.open("memory://rnnscope-test/s")
    np.testing.assert_array_equal(store.select("layer1.h", upos="VERB"),
                                  acts[(tokens["upos"] == "VERB").to_numpy()])



def test_file_url_creates_the_local_folder(tmp_path):
    tokens = _tokens(30)
    acts = np.random.default_rng(3).normal(size=(30, 3)).astype(np.float32)
    url = f"file://{tmp_path}/new/s"
    ActivationStore.from_arrays(url, {"layer1.h": acts}, tokens)
    assert (tmp_path / "new" / "s" / COMPLETE).exists()
    np.testing.assert_array_equal(ActivationStore.open(url).get("layer1.h"), acts)

def test_zstd_compression_roundtrips_and_is_recorded(tmp_path):
    acts = np.random.default_rng(4).uniform(size=(200, 6)).astype(np.float32)
    w = StoreWriter.create(tmp_path / "z", 200, ["layer1.i"], 6, dtype="float32",
                           compression="zstd")
    w.write("layer1.i", 0, acts)
    store = w.finalize(_tokens(200))
    assert store.meta["compression"] == "zstd"
    assert "zstd" in type(store["layer1.i"].compressors[0]).__name__.lower()
    np.testing.assert_array_equal(store.get("layer1.i"), acts)
    with pytest.raises(StoreError, match="compression"):
        StoreWriter.create(tmp_path / "y", 10, ["layer1.h"], 2, compression="lz77")
