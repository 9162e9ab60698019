"""Sharded extraction on a real 2-process local cluster equals the single-process store exactly,
also when a worker dies midway and when an interrupted run is resumed."""
from __future__ import annotations

import os
import sys
import tempfile
import uuid

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_model

pytest.importorskip("distributed")

from _dask_cluster import client  # noqa: E402,F401  (the shared 2-worker cluster)

from rnnscope.checkpoint import save_model  # noqa: E402
from rnnscope.corpus.types import Corpus, Sentence  # noqa: E402
from rnnscope.distributed import shards as sh  # noqa: E402
from rnnscope.distributed.extract import extract_distributed  # noqa: E402
from rnnscope.errors import StoreError  # noqa: E402
from rnnscope.extract import extract  # noqa: E402
from rnnscope.model import RecurrentLM  # noqa: E402
from rnnscope.store import ActivationStore, store_state  # noqa: E402
from rnnscope.vocab import Vocabulary  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WORDS = "the cat sat on a mat while dogs ran to the old red barn and birds sang".split()
SETTINGS = dict(batch_size=4, chunk_rows=16, dtype="float16", progress=False)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    rng = np.random.default_rng(0)
    sentences = []
    for i in range(40):
        words = [WORDS[j] for j in rng.integers(0, len(WORDS), size=int(rng.integers(1, 13)))]
        upos = ["NOUN" if w in ("cat", "mat", "dogs", "barn", "birds") else "X" for w in words]
        sentences.append(Sentence(words, {"upos": upos}, sent_id=str(i)))
    corpus = Corpus(sentences, name="toy")
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in sentences[:25]])
    model = tiny_model("lstm", layers=2, hidden=16, vocab=len(vocab), emb=8, seed=3)
    ref = extract(model, vocab, corpus, tmp_path_factory.mktemp("ref") / "s", **SETTINGS)
    return model, vocab, corpus, ref


def assert_same_store(a: ActivationStore, b: ActivationStore, same_plan: bool = True) -> None:
    """Same keys, meta, token table and bit-identical arrays."""
    if not same_plan:  # the fingerprint hashes the weights, and a test model may carry extras
        a.meta.pop("plan"), b.meta.pop("plan")
    # every write of a store gets its own random generation id (the viewer's staleness check)
    meta_a = {k: v for k, v in a.meta.items() if k != "generation"}
    meta_b = {k: v for k, v in b.meta.items() if k != "generation"}
    assert a.meta["generation"] != b.meta["generation"]
    assert a.keys() == b.keys() and meta_a == meta_b
    for k in a.keys():
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y, err_msg=k)
    pd.testing.assert_frame_equal(a.tokens, b.tokens)


class DiesOnce(RecurrentLM):
    """Kills its worker process on the third batch it runs, once per flag file.

    The flag's path travels inside the weights (a buffer), as the model reaches the workers as
    its class, config and state dict.
    """

    def __init__(self, config):
        super().__init__(config)
        self.register_buffer("flag_id", torch.zeros(1, dtype=torch.int64))
        self.calls = 0

    @property
    def flag(self) -> str:
        return os.path.join(tempfile.gettempdir(), f"rnnscope-dies-once-{int(self.flag_id)}")

    def run_with_states(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 3:
            try:
                os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                os._exit(1)
            except FileExistsError:
                pass
        return super().run_with_states(*args, **kwargs)


def dies_once(model: RecurrentLM) -> DiesOnce:
    """A copy of ``model`` that kills the first worker running its third batch."""
    dying = DiesOnce(model.config)
    state = dict(model.state_dict(), flag_id=torch.tensor([uuid.uuid4().int % 2**62]))
    dying.load_state_dict(state)
    return dying.eval()


def test_sharded_extraction_equals_single_process(client, setup, tmp_path):
    model, vocab, corpus, ref = setup
    store, run = extract_distributed(model, vocab, corpus, tmp_path / "s", client=client,
                                     shard_rows=32, **SETTINGS)
    assert len(run.reports) == -(-len(ref) // 32) > 2
    assert_same_store(store, ref)
    assert not (tmp_path / "s" / "shards").exists()


def test_checkpoint_is_loaded_once_per_worker(client, setup, tmp_path):
    model, vocab, corpus, ref = setup
    ckpt = save_model(model, vocab, tmp_path / "ckpt")
    store, run = extract_distributed(str(ckpt), vocab, corpus, tmp_path / "s", client=client,
                                     shard_rows=16, **SETTINGS)
    assert_same_store(store, ref)
    loads = client.run(lambda: {k: v for k, v in sh.LOADS.items() if str(ckpt.resolve()) in str(k)})
    assert all(n == 1 for per in loads.values() for n in per.values())
    assert sum(n for per in loads.values() for n in per.values()) <= len(loads)


def test_worker_killed_midway_still_gives_identical_store(client, setup, tmp_path):
    model, vocab, corpus, ref = setup
    dying = dies_once(model)
    store, _ = extract_distributed(dying, vocab, corpus, tmp_path / "s", client=client,
                                   shard_rows=48, **SETTINGS)
    assert os.path.exists(dying.flag)  # a worker really died
    os.remove(dying.flag)
    assert_same_store(store, ActivationStore.open(ref.path), same_plan=False)


def test_interrupted_run_resumes_from_completed_shards(client, setup, tmp_path):
    model, vocab, corpus, ref = setup
    out = tmp_path / "s"
    first, _ = extract_distributed(model, vocab, corpus, out, client=client, shard_rows=32,
                                   **SETTINGS)
    # simulate a crash after some shards: drop COMPLETE and leave markers for half the shards
    done = sh.ShardLedger(out / "shards")
    shards = sh.row_shards(len(ref), 32, align=16)
    for s in shards[: len(shards) // 2]:
        done.mark(sh.ShardReport(s.name, "earlier-run", s.size, 1.0))
    (out / "COMPLETE").unlink()
    with pytest.raises(StoreError, match="--resume"):
        extract_distributed(model, vocab, corpus, out, client=client, shard_rows=32, **SETTINGS)
    store, run = extract_distributed(model, vocab, corpus, out, client=client, shard_rows=32,
                                     resume=True, **SETTINGS)
    assert sum(r.resumed for r in run.reports) == len(shards) // 2
    assert "already complete" in run.summary()
    assert_same_store(store, ref)


def test_single_process_run_interrupted_is_finished_on_the_cluster(client, setup, tmp_path):
    model, vocab, corpus, ref = setup
    out = tmp_path / "s"

    def stop(windows_done: int, rows_on_disk: int) -> None:
        if rows_on_disk >= 64:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(model, vocab, corpus, out, callback=stop, **SETTINGS)
    store, run = extract_distributed(model, vocab, corpus, out, client=client, shard_rows=32,
                                     resume=True, **SETTINGS)
    assert run.reports[0].name != sh.row_shards(len(ref), 32, align=16)[0].name  # skipped
    assert_same_store(store, ref)


def test_carried_state_cannot_be_sharded(client, setup, tmp_path):
    model, vocab, corpus, _ = setup
    with pytest.raises(StoreError, match="reset='sentence'"):
        extract_distributed(model, vocab, corpus, tmp_path / "s", client=client, reset="carry")
