"""``--cluster`` / ``--workers`` on the CLI: same store and same tables as without them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import tiny_model

pytest.importorskip("distributed")

from _dask_cluster import client  # noqa: E402,F401  (the shared 2-worker cluster)

from rnnscope.checkpoint import save_model  # noqa: E402
from rnnscope.cli import main  # noqa: E402
from rnnscope.store import ActivationStore  # noqa: E402
from rnnscope.vocab import Vocabulary  # noqa: E402


TEXT = ["the cat sat on the mat", "dogs ran to the old red barn", "birds sang",
        "the old cat ran", "a red bird sang on the barn"] * 8


def run(args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def model_and_corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "corpus.txt").write_text("\n".join(TEXT) + "\n")
    vocab = Vocabulary.build("word", TEXT)
    model = tiny_model("lstm", layers=2, hidden=12, vocab=len(vocab), emb=8, seed=5)
    return save_model(model, vocab, tmp / "model"), tmp / "corpus.txt"


def test_extract_on_a_cluster_writes_the_same_store(client, model_and_corpus, tmp_path):
    model, corpus = model_and_corpus
    common = ["extract", "--model", model, "--corpus", corpus, "--chunk-rows", 16,
              "--batch-size", 4, "--no-progress"]
    run(common + ["--out", tmp_path / "single"])
    result = run(common + ["--out", tmp_path / "dist", "--cluster", client.scheduler.address])
    assert "throughput per worker" in result.output
    a, b = ActivationStore.open(tmp_path / "single"), ActivationStore.open(tmp_path / "dist")
    assert a.keys() == b.keys()
    for k in a.keys():
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))
    pd.testing.assert_frame_equal(a.tokens, b.tokens)


def test_probe_on_a_cluster_prints_the_same_table(client, model_and_corpus, tmp_path):
    model, corpus = model_and_corpus
    run(["extract", "--model", model, "--corpus", corpus, "--out", tmp_path / "s",
         "--components", "h", "--no-progress"])
    single = run(["probe", tmp_path / "s", "--feature", "token", "--read", "every",
                  "--csv", tmp_path / "a.csv"])
    dist = run(["probe", tmp_path / "s", "--feature", "token", "--read", "every",
                "--csv", tmp_path / "b.csv", "--cluster", client.scheduler.address])
    assert "throughput per worker" in dist.output and "throughput" not in single.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv"))


def test_bad_cluster_options_are_one_line_errors(client, model_and_corpus, tmp_path):
    model, corpus = model_and_corpus
    result = run(["extract", "--model", model, "--corpus", corpus, "--out", tmp_path / "s",
                  "--workers", 2, "--cluster", "tcp://127.0.0.1:1"], ok=False)
    assert result.exit_code == 2 and "not both" in result.output
    result = run(["extract", "--model", model, "--corpus", corpus, "--out", tmp_path / "s",
                  "--reset", "carry", "--cluster", client.scheduler.address], ok=False)
    assert result.exit_code == 2 and "reset='sentence'" in result.output
