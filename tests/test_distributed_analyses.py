"""Sharded ablation sweeps and probes on a real 2-process local cluster equal the
single-process results exactly (same tables, bit-identical logit differences)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_model

pytest.importorskip("distributed")

from _dask_cluster import client  # noqa: E402,F401  (the shared 2-worker cluster)

from rnnscope.agreement import ablation_sweep, generate  # noqa: E402
from rnnscope.analysis.probe import probe  # noqa: E402
from rnnscope.corpus.types import Corpus, Sentence  # noqa: E402
from rnnscope.distributed.ablate import ablation_sweep_distributed, sweep_shards  # noqa: E402
from rnnscope.distributed.probe import probe_distributed  # noqa: E402
from rnnscope.extract import extract  # noqa: E402
from rnnscope.vocab import Vocabulary  # noqa: E402


@pytest.fixture(autouse=True)
def ledgers(tmp_path, monkeypatch):
    """Keep shard ledgers inside the test's folder."""
    monkeypatch.setenv("RNNSCOPE_SHARDS", str(tmp_path / "ledgers"))


def test_sweep_shards_are_whole_passes_of_one_layer():
    pairs = [(1, u) for u in range(7)] + [(2, u) for u in range(7)]
    shards = sweep_shards(pairs, chunk=3, passes_per_shard=1)
    assert [(s.payload[0], s.payload[1]) for s in shards[:3]] == [(1, [0, 1, 2]), (1, [3, 4, 5]), (1, [6])]
    assert sorted(i for s in shards for i in s.payload[2]) == list(range(14))


def test_sharded_ablation_sweep_equals_single_process(client, tmp_path):
    items = generate(["Simple", "NounPP"], n=12, seed=0)
    words = {w for it in items for w in (*it.prefix, it.correct, it.wrong)}
    vocab = Vocabulary("word", sorted(words))
    model = tiny_model("lstm", layers=2, hidden=12, vocab=len(vocab), emb=8, seed=1)
    ref = ablation_sweep(model, vocab, items, mode="both", max_rows=120, progress=False)
    got, run = ablation_sweep_distributed(model, vocab, items, mode="both", max_rows=120,
                                          client=client, passes_per_shard=1, progress=False)
    assert len(run.reports) > 2 and run.table["units"].sum() == 24
    np.testing.assert_array_equal(got.diffs, ref.diffs)
    pd.testing.assert_frame_equal(got.table, ref.table)
    pd.testing.assert_frame_equal(got.units, ref.units)
    pd.testing.assert_frame_equal(got.full.table, ref.full.table)
    assert not list((tmp_path / "ledgers").glob("*/*.json"))  # ledger cleared after success


WORDS = "the cat sat on a mat while dogs ran to the old red barn and birds sang".split()


def test_sharded_probe_equals_single_process(client, tmp_path):
    rng = np.random.default_rng(1)
    sentences = []
    for i in range(60):
        words = [WORDS[j] for j in rng.integers(0, len(WORDS), size=int(rng.integers(2, 10)))]
        upos = ["NOUN" if w in ("cat", "mat", "dogs", "barn", "birds") else
                "DET" if w in ("the", "a") else "X" for w in words]
        number = ["Plur" if w.endswith("s") else "Sing" if u == "NOUN" else None
                  for w, u in zip(words, upos)]
        sentences.append(Sentence(words, {"upos": upos, "feats": [{"Number": n} if n else None
                                                                 for n in number]}))
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in sentences])
    model = tiny_model("gru", layers=2, hidden=8, vocab=len(vocab), emb=8, seed=2)
    store = extract(model, vocab, Corpus(sentences, "toy"), tmp_path / "s", progress=False)
    got, run = probe_distributed(store.path, ["upos", "Number"], components=["h", "z"],
                                 offsets=(0, -1), client=client, progress=False)
    assert len(run.reports) == 2 * 4  # features x keys (2 layers x 2 components)
    for feature in ("upos", "Number"):
        ref = probe(store, feature, components=["h", "z"], offsets=(0, -1), progress=False)
        pd.testing.assert_frame_equal(got[feature].table, ref.table)


def test_sharded_memory_equals_single_process(client):
    from rnnscope.analysis.memory import memory
    from rnnscope.distributed.gradients import memory_distributed

    rng = np.random.default_rng(3)
    model = tiny_model("lstm", layers=1, hidden=8, vocab=20, emb=6, seed=4).double()
    seqs = [rng.integers(0, 20, size=int(n)) for n in rng.integers(3, 14, size=14)]
    labels = [["even" if t % 2 == 0 else None if t == 7 else "odd" for t in s] for s in seqs]
    ref = memory(model, seqs, "layer1.c", max_delay=6, labels=labels, progress=False)
    got, run = memory_distributed(model, seqs, "layer1.c", max_delay=6, labels=labels,
                                  client=client, sequences_per_shard=3, progress=False)
    assert len(run.reports) == 5 and run.table["positions"].sum() == sum(map(len, seqs))
    assert set(got.spectra) == set(ref.spectra) == {"all", "even", "odd"}
    for g in ref.spectra:
        np.testing.assert_array_equal(got.counts[g], ref.counts[g])
        np.testing.assert_allclose(got.means[g], ref.means[g], rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(got.table, ref.table, rtol=1e-9)
