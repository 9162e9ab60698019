"""The extract / store-info / export-lstmvis commands on EWT dev, kill-and-resume, errors."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import tiny_model

from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.corpus.align import align_corpus
from rnnscope.corpus.readers import read_corpus
from rnnscope.extract import token_table
from rnnscope.store import ActivationStore, store_state
from rnnscope.vocab import Vocabulary

EWT_DEV = "ud/en_ewt/en_ewt-ud-dev.conllu.gz"
N_SENT = 120


def _model_dir(tmp_path, corpus, kind: str):
    lines = [" ".join(s.words) for s in corpus]
    vocab = Vocabulary.build(kind, lines, max_size=500 if kind == "word" else None)
    model = tiny_model("lstm", layers=2, hidden=16, vocab=len(vocab), emb=8, seed=1)
    return save_model(model, vocab, tmp_path / f"model-{kind}")


def _run(args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_ewt_dev_token_table_has_one_row_per_syntactic_word(shared_data):
    corpus = read_corpus(shared_data / EWT_DEV)
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in corpus])
    table = token_table(corpus, align_corpus(corpus, vocab))
    assert len(table) == corpus.n_words == 25147
    assert {"upos", "xpos", "deprel", "head", "Number", "Tense"} <= set(table.columns)


def test_extract_ewt_word_model_cli(shared_data, tmp_path):
    corpus = read_corpus(shared_data / EWT_DEV)
    model = _model_dir(tmp_path, corpus, "word")
    out = tmp_path / "store"
    _run(["extract", "--model", model, "--corpus", shared_data / EWT_DEV, "--out", out,
          "--max-sentences", N_SENT, "--components", "h,c", "--no-progress"])
    store = ActivationStore.open(out)
    words = [w for s in corpus.sentences[:N_SENT] for w in s.words]
    t = store.tokens
    assert len(store) == len(t) == len(words)
    assert list(t["word"]) == words
    assert store.keys() == ["layer1.h", "layer1.c", "layer2.h", "layer2.c"]
    assert store["layer1.c"].dtype == np.float16
    for col in ("upos", "Number", "deprel", "depth"):
        assert col in t.columns
    first = corpus[0]
    assert list(t.loc[t["sentence"] == 0, "upos"]) == first.annotations["upos"]
    assert t.loc[t["sentence"] == 0, "depth"].tolist()[3] == 0  # the root ("comes")
    nouns = store.select("layer2.h", upos="NOUN", Number="Plur")
    assert 0 < len(nouns) < len(store) and nouns.dtype == np.float32

    info = _run(["store-info", out]).output
    assert f"rows        {len(words)}" in info and "layer2.c" in info

    again = _run(["extract", "--model", model, "--corpus", shared_data / EWT_DEV, "--out", out,
                  "--max-sentences", 5, "--no-progress"], ok=False)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_extract_ewt_char_model_maps_words_to_last_character(shared_data, tmp_path):
    corpus = read_corpus(shared_data / EWT_DEV)
    model = _model_dir(tmp_path, corpus, "char")
    out = tmp_path / "store"
    _run(["extract", "--model", model, "--corpus", shared_data / EWT_DEV, "--out", out,
          "--max-sentences", 40, "--components", "c", "--layers", "2", "--dtype", "float32",
          "--compress",
          "--no-progress"])
    store = ActivationStore.open(out)
    t = store.tokens
    ends = t[t["is_word_end"]]
    words = [w for s in corpus.sentences[:40] for w in s.words]
    assert list(ends["word"]) == words
    assert all(w[-1] == c for w, c in zip(ends["word"], ends["token"]))
    assert (ends.groupby(["sentence", "word_index"]).size() == 1).all()
    assert set(t.loc[t["word_index"] == -1, "upos"]) == {"SPACE"}
    assert store.keys() == ["layer2.c"] and store.dtype == "float32"


def test_export_lstmvis_cli(tmp_path):
    h5py = pytest.importorskip("h5py")
    from rnnscope.corpus.types import Corpus, Sentence

    corpus = Corpus([Sentence(["a", "cat", "sat"], {"upos": ["DET", "NOUN", "VERB"]}),
                     Sentence(["a", "dog"], {"upos": ["DET", "NOUN"]})], name="toy")
    vocab = Vocabulary.build("word", ["a cat sat a dog"])
    model = tiny_model("lstm", layers=2, hidden=8, vocab=len(vocab), emb=4)
    from rnnscope.extract import extract

    store = extract(model, vocab, corpus, tmp_path / "s", dtype="float32", progress=False)
    _run(["export-lstmvis", tmp_path / "s", "--out", tmp_path / "lv"])
    with h5py.File(tmp_path / "lv" / "states.hdf5") as f:
        assert set(f) == {"states1", "states2", "output1", "output2"}
        np.testing.assert_array_equal(f["states2"][:], store.get("layer2.c"))
        np.testing.assert_array_equal(f["output1"][:], store.get("layer1.h"))
    with h5py.File(tmp_path / "lv" / "train.hdf5") as f:
        ids = f["word_ids"][:]
    words = dict(line.split()[::-1] for line in (tmp_path / "lv" / "words.dict").read_text().splitlines())
    assert [words[str(i)] for i in ids] == ["a", "cat", "sat", "a", "dog"]
    yml = (tmp_path / "lv" / "lstm.yml").read_text()
    assert "word_sequence:" in yml and '"path": "states2"' in yml
    bad = _run(["export-lstmvis", tmp_path / "s", "--out", tmp_path / "x", "--keys", "layer1.i"],
               ok=False)
    assert bad.exit_code == 2 and "h) and cell (c)" in bad.output


KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from rnnscope.checkpoint import load_model
    from rnnscope.corpus.readers import read_corpus
    from rnnscope.corpus.types import Corpus
    from rnnscope.extract import extract
    model, vocab = load_model(sys.argv[1])
    corpus = read_corpus(sys.argv[2])
    corpus = Corpus(corpus.sentences[:int(sys.argv[4])], name=corpus.name)
    def die(windows, rows):
        if windows == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    extract(model, vocab, corpus, sys.argv[3], chunk_rows=128, batch_size=2, progress=False, callback=die)
""")


def test_killed_extraction_resumes_identically(shared_data, tmp_path):
    corpus = read_corpus(shared_data / EWT_DEV)
    model = _model_dir(tmp_path, corpus, "char")
    n = 30
    common = ["--model", model, "--corpus", shared_data / EWT_DEV, "--max-sentences", n,
              "--chunk-rows", 128, "--batch-size", 2, "--threads", 1, "--no-progress"]
    _run(["extract", *common, "--out", tmp_path / "full"])
    proc = subprocess.run([sys.executable, "-c", KILLER, str(model), str(shared_data / EWT_DEV),
                           str(tmp_path / "cut"), str(n)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr  # really killed, no cleanup ran
    assert store_state(tmp_path / "cut") == "incomplete"
    refused = _run(["extract", *common, "--out", tmp_path / "cut"], ok=False)
    assert refused.exit_code == 2 and "--resume" in refused.output
    opened = _run(["store-info", tmp_path / "cut"], ok=False)
    assert opened.exit_code == 2 and "incomplete" in opened.output
    _run(["extract", *common, "--out", tmp_path / "cut", "--resume"])
    full, cut = ActivationStore.open(tmp_path / "full"), ActivationStore.open(tmp_path / "cut")
    for k in full.keys():
        np.testing.assert_array_equal(cut.get(k), full.get(k))
    assert cut.tokens.equals(full.tokens)


def test_cli_errors_are_one_line(tmp_path, shared_data):
    r = _run(["extract", "--model", tmp_path / "nope", "--corpus", shared_data / EWT_DEV,
              "--out", tmp_path / "s"], ok=False)
    assert r.exit_code == 2 and r.output.startswith("error:") and "Traceback" not in r.output
    r = _run(["store-info", tmp_path / "nothing"], ok=False)
    assert r.exit_code == 2 and "no activation store" in r.output
