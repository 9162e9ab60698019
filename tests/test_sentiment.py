"""Sentiment neuron (planted unit, SST-2 reading, final states) and the sentiment classifier."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_model

from rnnscope.analysis.sentiment import (fit_threshold, final_states, preprocess_review, read_sst2,
                                         sentiment_neuron, sentiment_neuron_arrays)
from rnnscope.checkpoint import load_model
from rnnscope.classifier import (accuracy, load_classifier, predict, save_classifier,
                                 train_classifier)
from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary




def planted(n, rng, unit=11, hidden=24):
    """Final states where ``unit`` is high for negative reviews, everything else noise."""
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 1, (n, hidden))
    X[:, unit] = np.where(y == 1, -1.0, 1.0) + rng.normal(0, 0.4, n)
    return X, y


def test_planted_sentiment_unit():
    rng = np.random.default_rng(0)
    res = sentiment_neuron_arrays(planted(600, rng), planted(150, rng), planted(300, rng))
    assert res.unit == 11 and res.sign == -1  # larger value = negative review
    assert res.accuracy("unit", "test") > 0.95 and res.accuracy("full", "test") > 0.95
    assert res.n_nonzero < 24 and res.C in set(res.c_sweep["C"])
    assert res.c_sweep.loc[res.c_sweep["C"] == res.C, "dev_accuracy"].iloc[0] == \
        res.c_sweep["dev_accuracy"].max()
    res.plot_weights()
    res.plot_histogram("test")


def test_paper_fixed_zero_threshold_is_reported_beside_the_fitted_one():
    """The unit is offset (+3 for every review): a threshold at 0 is useless, a fitted one is not."""
    rng = np.random.default_rng(1)

    def offset(n):
        X, y = planted(n, rng)
        X[:, 11] += 3.0
        return X, y

    res = sentiment_neuron_arrays(offset(600), offset(150), offset(300))
    assert res.unit == 11
    assert res.accuracy("unit", "test") > 0.95
    at_zero = res.accuracy("unit_at_zero", "test")
    y = res.values["test"][1]
    # every value is > 0 and the weight is negative, so the paper's rule says "negative" always
    assert at_zero == pytest.approx(float(np.mean(y == 0)))
    # on centred data the two rules agree
    plain = sentiment_neuron_arrays(planted(600, rng), planted(150, rng), planted(300, rng))
    assert plain.accuracy("unit_at_zero", "test") > 0.95


def test_fit_threshold_is_the_best_cut():
    v = np.array([0.1, 0.2, 0.3, 0.9, 1.0, 1.1])
    t, sign, acc = fit_threshold(v, np.array([0, 0, 0, 1, 1, 1]))
    assert sign == 1 and acc == 1.0 and 0.3 < t < 0.9
    t, sign, acc = fit_threshold(v, np.array([1, 1, 0, 0, 0, 0]))
    assert sign == -1 and acc == 1.0 and 0.2 < t < 0.3


def test_read_sst2_and_bad_files(tmp_path):
    good = tmp_path / "train.csv"
    good.write_text('label,sentence\n1,"A fine, fine film."\n0,dull\n')
    texts, labels = read_sst2(good)
    assert texts == ["A fine, fine film.", "dull"] and list(labels) == [1, 0]
    bad = tmp_path / "bad.csv"
    bad.write_text("label,sentence\n2,what\n")
    with pytest.raises(RnnscopeError, match="bad.csv:2"):
        read_sst2(bad)
    assert preprocess_review(" a\nb ") == "\n a b\n"


def test_final_states_ignore_padding():
    model = tiny_model(layers=2, hidden=16, vocab=258)
    vocab = Vocabulary.bytes()
    texts = ["short", "a much longer review than that"]
    states = final_states(model, vocab, texts, component="c")
    for k, t in enumerate(texts):
        ids = torch.as_tensor([vocab.encode(vocab.units(preprocess_review(t)))])
        _, st, _ = model.run_with_states(ids, components=["c"], compute_logits=False)
        assert np.allclose(states[k], st["layer2.c"][0, -1].detach().numpy(), atol=1e-5)


def write_sst(folder, rng, n=40):
    folder.mkdir()
    for split in ("train", "dev", "test"):
        y = rng.integers(0, 2, n)
        lines = ["label,sentence"] + [f"{v},{'good fun' if v else 'bad dull'} {k}" for k, v in
                                      enumerate(y)]
        (folder / f"{split}_binary_sent.csv").write_text("\n".join(lines) + "\n")


def test_sentiment_neuron_end_to_end_on_a_byte_model(tmp_path):
    write_sst(tmp_path / "sst", np.random.default_rng(0))
    model = tiny_model(layers=1, hidden=16, vocab=258)
    res = sentiment_neuron(model, Vocabulary.bytes(), tmp_path / "sst", Cs=(0.1, 1.0),
                           progress=False)
    assert set(res.table["split"]) == {"train", "dev", "test"} and len(res.table) == 9
    assert set(res.table["classifier"]) == {"full", "unit", "unit_at_zero"}
    # the final states see different words for the two classes: a linear readout separates them
    assert res.accuracy("full", "test") > 0.8
    with pytest.raises(RnnscopeError, match="char or byte"):
        sentiment_neuron(model, Vocabulary("word", ["a"]), tmp_path / "sst")


def test_classifier_learns_saves_and_loads(tmp_path):
    rng = np.random.default_rng(0)
    pos, neg = ["good", "great", "fun"], ["bad", "dull", "awful"]
    filler = ["the", "film", "was", "a", "plot", "and"]

    def make(n):
        y = rng.integers(0, 2, n)
        texts = [" ".join(list(rng.choice(filler, 4)) + [rng.choice(pos if v else neg)] +
                          list(rng.choice(filler, 2))) + "." for v in y]
        return texts, y

    train, dev = make(160), make(40)
    clf, vocab, history = train_classifier(train, dev, hidden_size=12, emb_dim=8, epochs=5, lr=3e-2, batch_size=16,
                                           progress=False)
    assert accuracy(clf, vocab, *dev) > 0.9 and len(history) == 5
    path = save_classifier(clf, vocab, tmp_path / "clf")
    clf2, vocab2 = load_classifier(path)
    assert (predict(clf2, vocab2, dev[0]) == predict(clf, vocab, dev[0])).all()
    backbone, _ = load_model(path)  # a normal rnnscope checkpoint: extract can read its units
    assert backbone.config.hidden_size == 12
    assert not list(path.glob("*.pt")) and not list(path.glob("*.pkl"))
