"""Extraction: batched rows equal single-sentence runs, carry mode equals one stream, resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_model

from rnnscope.corpus.align import align_corpus
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import StoreError
from rnnscope.extract import extract, without_onednn
from rnnscope.store import ActivationStore, store_state
from rnnscope.vocab import Vocabulary

WORDS = "the cat sat on a mat while dogs ran to the old red barn and birds sang".split()


def _corpus(n: int = 23, seed: int = 0) -> Corpus:
    """Sentences of varied length (1..12 words) with upos and feats, so batches need padding."""
    rng = np.random.default_rng(seed)
    sentences = []
    for i in range(n):
        k = int(rng.integers(1, 13))
        words = [WORDS[j] for j in rng.integers(0, len(WORDS), size=k)]
        upos = ["NOUN" if w in ("cat", "mat", "dogs", "barn", "birds") else "X" for w in words]
        feats = [{"Number": "Plur" if w.endswith("s") else "Sing"} if u == "NOUN" else None
                 for w, u in zip(words, upos)]
        sentences.append(Sentence(words, {"upos": upos, "feats": feats}, sent_id=str(i)))
    return Corpus(sentences, name="toy")


def _setup(kind: str, cell: str = "lstm"):
    corpus = _corpus()
    lines = [" ".join(s.words) for s in corpus]
    vocab = Vocabulary.build(kind, lines[:15])  # later sentences may hold unknown units
    model = tiny_model(cell=cell, layers=2, hidden=16, vocab=len(vocab), emb=8, seed=3)
    return model, vocab, corpus


def _alone(model, vocab, aligned) -> dict[str, np.ndarray]:
    """Reference: every sentence alone as [<eos>] + units, rows stacked in corpus order."""
    rows: dict[str, list] = {}
    with torch.no_grad(), without_onednn():
        for a in aligned:
            ids = torch.tensor([[vocab.eos_id] + a.ids])
            _, states, _ = model.run_with_states(ids, compute_logits=False)
            for k, v in states.items():
                rows.setdefault(k, []).append(v[0, 1:].numpy())
    return {k: np.concatenate(v) for k, v in rows.items()}


@pytest.mark.parametrize("kind,cell", [("word", "lstm"), ("char", "lstm"), ("word", "gru")])
def test_batched_extraction_equals_each_sentence_alone(tmp_path, kind, cell):
    model, vocab, corpus = _setup(kind, cell)
    store = extract(model, vocab, corpus, tmp_path / "s", dtype="float32", batch_size=4,
                    chunk_rows=16, progress=False)
    ref = _alone(model, vocab, align_corpus(corpus, vocab))
    assert store.keys() == list(ref)
    for k, v in ref.items():
        np.testing.assert_allclose(store.get(k), v, atol=1e-5, rtol=0)
    t = store.tokens
    assert len(t) == len(ref["layer1.h"])
    assert (t.groupby("sentence")["position"].apply(lambda p: list(p) == list(range(len(p))))).all()
    assert store.meta["reset"] == "sentence" and store.meta["vocab_kind"] == kind
    assert store.meta["model"]["hidden_size"] == 16


def test_carry_mode_equals_one_long_stream(tmp_path):
    model, vocab, corpus = _setup("word")
    store = extract(model, vocab, corpus, tmp_path / "s", dtype="float32", reset="carry",
                    chunk_rows=10, progress=False)
    aligned = align_corpus(corpus, vocab)
    stream = [i for a in aligned for i in [vocab.eos_id] + a.ids]
    keep = np.array([b for a in aligned for b in [False] + [True] * len(a)])
    with torch.no_grad(), without_onednn():
        _, states, _ = model.run_with_states(torch.tensor([stream]), compute_logits=False)
    for k, v in states.items():
        np.testing.assert_allclose(store.get(k), v[0].numpy()[keep], atol=1e-5, rtol=0)
    # and it differs from per-sentence resets (the state really is carried)
    reset = extract(model, vocab, corpus, tmp_path / "r", dtype="float32", progress=False)
    assert not np.allclose(store.get("layer2.c"), reset.get("layer2.c"), atol=1e-3)


class _Boom(Exception):
    pass


@pytest.mark.parametrize("reset", ["sentence", "carry"])
def test_resume_after_interruption_is_identical(tmp_path, reset):
    model, vocab, corpus = _setup("char")
    kwargs = dict(reset=reset, batch_size=3, chunk_rows=64, progress=False)
    full = extract(model, vocab, corpus, tmp_path / "full", **kwargs)

    def stop_after_three(windows_done, rows_on_disk):
        if windows_done == 3:
            raise _Boom

    with pytest.raises(_Boom):
        extract(model, vocab, corpus, tmp_path / "cut", callback=stop_after_three, **kwargs)
    assert store_state(tmp_path / "cut") == "incomplete"
    with pytest.raises(StoreError, match="--resume"):
        ActivationStore.open(tmp_path / "cut")
    with pytest.raises(StoreError, match="--resume"):
        extract(model, vocab, corpus, tmp_path / "cut", **kwargs)
    done = []
    resumed = extract(model, vocab, corpus, tmp_path / "cut", resume=True,
                      callback=lambda w, r: done.append(w), **kwargs)
    assert done and done[0] > 1  # it really skipped finished windows
    for k in full.keys():
        np.testing.assert_array_equal(resumed.get(k), full.get(k))
    assert resumed.tokens.equals(full.tokens)
    assert not (tmp_path / "cut" / "progress.json").exists()


def test_resume_refuses_other_settings_and_complete_store(tmp_path):
    model, vocab, corpus = _setup("word")

    def boom(w, r):
        raise _Boom

    with pytest.raises(_Boom):
        extract(model, vocab, corpus, tmp_path / "s", chunk_rows=8, callback=boom, progress=False)
    with pytest.raises(StoreError, match="different model"):
        extract(model, vocab, corpus, tmp_path / "s", chunk_rows=8, dtype="float32",
                resume=True, progress=False)
    store = extract(model, vocab, corpus, tmp_path / "s", chunk_rows=8, resume=True, progress=False)
    assert store.dtype == "float16"
    with pytest.raises(StoreError, match="--overwrite"):
        extract(model, vocab, corpus, tmp_path / "s", progress=False)
    again = extract(model, vocab, corpus, tmp_path / "s", overwrite=True, components=["h"],
                    layers=[2], progress=False)
    assert again.keys() == ["layer2.h"]


def test_token_table_columns_word_and_char(tmp_path):
    model, vocab, corpus = _setup("word")
    t = extract(model, vocab, corpus, tmp_path / "w", components=["h"], progress=False).tokens
    assert len(t) == corpus.n_words
    assert t["is_word_end"].all() and (t["token"] == t["word"]).all()
    nouns = t[t["upos"] == "NOUN"]
    assert set(nouns["Number"]) == {"Sing", "Plur"}
    assert t.loc[t["upos"] != "NOUN", "Number"].isna().all()

    model, vocab, corpus = _setup("char")
    store = extract(model, vocab, corpus, tmp_path / "c", components=["h"], progress=False)
    t = store.tokens
    assert len(t) == sum(len(" ".join(s.words)) for s in corpus)
    sep = t["word_index"] == -1
    assert (t.loc[sep, "token"] == " ").all() and (t.loc[sep, "upos"] == "SPACE").all()
    ends = t[t["is_word_end"]]
    assert len(ends) == corpus.n_words  # every word maps to exactly one last character
    assert [w[-1] for w in ends["word"]] == list(ends["token"])
    assert list(ends["word"]) == [w for s in corpus for w in s.words]


def test_empty_corpus_and_bad_options(tmp_path):
    model, vocab, corpus = _setup("word")
    with pytest.raises(StoreError, match="no tokens"):
        extract(model, vocab, Corpus([], name="empty"), tmp_path / "e", progress=False)
    with pytest.raises(StoreError, match="reset"):
        extract(model, vocab, corpus, tmp_path / "x", reset="never", progress=False)
    with pytest.raises(StoreError, match="layers 1..2"):
        extract(model, vocab, corpus, tmp_path / "x", layers=[3], progress=False)


def test_carry_resume_when_windows_end_on_chunk_boundaries(tmp_path):
    """Windows that end exactly on a chunk boundary must still hand their state on."""
    vocab = Vocabulary.build("word", [" ".join(WORDS)])
    corpus = Corpus([Sentence(WORDS[i:i + 5]) for i in range(0, 15, 5)] * 3, name="even")
    model = tiny_model("lstm", layers=2, hidden=16, vocab=len(vocab), emb=8, seed=5)
    kwargs = dict(reset="carry", chunk_rows=5, dtype="float32", progress=False)
    full = extract(model, vocab, corpus, tmp_path / "full", **kwargs)

    def stop(windows_done, rows):
        if windows_done == 4:
            raise _Boom

    with pytest.raises(_Boom):
        extract(model, vocab, corpus, tmp_path / "cut", callback=stop, **kwargs)
    resumed = extract(model, vocab, corpus, tmp_path / "cut", resume=True, **kwargs)
    for k in full.keys():
        np.testing.assert_array_equal(resumed.get(k), full.get(k))


def test_overwrite_never_deletes_what_is_not_a_store(tmp_path):
    """--overwrite replaces a store or an empty folder; a corpus file or other files survive."""
    model, vocab, corpus = _setup("word")
    other = tmp_path / "papers"
    other.mkdir()
    (other / "thesis.tex").write_text("years of work")
    with pytest.raises(StoreError, match="not an activation store.*nothing was deleted"):
        extract(model, vocab, corpus, other, overwrite=True, progress=False)
    assert (other / "thesis.tex").read_text() == "years of work"
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_text("the cat sat\n")
    with pytest.raises(StoreError, match="is a file"):
        extract(model, vocab, corpus, corpus_file, overwrite=True, progress=False)
    assert corpus_file.read_text() == "the cat sat\n"
    (tmp_path / "empty").mkdir()
    assert len(extract(model, vocab, corpus, tmp_path / "empty", overwrite=True, progress=False).keys()) > 1
    # a real store is replaced
    again = extract(model, vocab, corpus, tmp_path / "empty", overwrite=True, components=["h"],
                    progress=False)
    assert again.keys() == ["layer1.h", "layer2.h"]


def test_a_second_writer_is_refused_with_the_holders_pid(tmp_path):
    """Another process holds the store's write lock: extraction refuses at once (naming its
    pid) and deletes nothing; a reader is told the store is being written; after the holder
    exits, extraction works."""
    import subprocess
    import sys
    import textwrap

    model, vocab, corpus = _setup("word")
    out = tmp_path / "s"
    extract(model, vocab, corpus, out, progress=False)
    (out / "COMPLETE").unlink()  # as while a rewrite is running
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from rnnscope.store import writer_lock
        with writer_lock({str(out)!r}):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=rf"being written by another rnnscope process \(pid {holder.pid}\)"):
            extract(model, vocab, corpus, out, overwrite=True, progress=False)
        assert (out / "meta.json").exists()  # nothing deleted
        with pytest.raises(StoreError, match=rf"being written now \(pid {holder.pid}\)"):
            ActivationStore.open(out)
    finally:
        holder.kill()
        holder.wait()
    with pytest.raises(StoreError, match="incomplete"):  # the holder is gone: not "being written"
        ActivationStore.open(out)
    assert extract(model, vocab, corpus, out, overwrite=True, progress=False).keys()
