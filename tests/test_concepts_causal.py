"""From correlation to cause: a hand-built LSTM whose unit 3 carries 'A -> next is B'."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnscope.analysis.causal_concepts import UnitTest, causal_effects, concept_causality
from rnnscope.analysis.concepts import concepts
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import RnnscopeError
from rnnscope.extract import extract
from rnnscope.interventions import Intervention, run_stepwise
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary

A, B, UNIT, HIDDEN = 0, 1, 3, 32  # vocabulary: a b c d <unk> <eos>


def planted_model() -> RecurrentLM:
    """Only unit 3 is alive: c = h ≈ 1 / 0.76 right after reading 'a'; it votes for 'b'."""
    torch.manual_seed(0)
    m = RecurrentLM(ModelConfig(vocab_size=6, emb_dim=6, hidden_size=HIDDEN, num_layers=1))
    lstm = m.layers[0]
    with torch.no_grad():
        m.encoder.weight.copy_(torch.eye(6))
        for p in lstm.parameters():
            p.zero_()
        H = HIDDEN  # gate rows: i [0,H), f [H,2H), g [2H,3H), o [3H,4H)
        lstm.bias_ih_l0[UNIT] = 10.0           # input gate open
        lstm.bias_ih_l0[H + UNIT] = -10.0      # forget gate shut
        lstm.bias_ih_l0[3 * H + UNIT] = 10.0   # output gate open
        lstm.weight_ih_l0[2 * H + UNIT, A] = 10.0
        m.decoder.weight.zero_()
        m.decoder.bias.zero_()
        m.decoder.weight[B, UNIT] = 10.0
    return m.eval()


def sequences(n=30, seed=0):
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(n):
        s = [5]
        while len(s) < 14:
            t = int(rng.choice([A, 2, 3]))
            s += [A, B] if t == A else [t]
        seqs.append(s)
    labels = [[None] + ["A" if t == A else "X" for t in s[1:]] for s in seqs]
    return seqs, labels


def test_used_unit_is_causal_dead_unit_is_flagged():
    model = planted_model()
    seqs, labels = sequences()
    res = causal_effects(model, seqs, labels, [UnitTest("layer1.h", UNIT, "A"),
                                               UnitTest("layer1.h", 5, "A")],
                         n_random=19, value="zero", progress=False)
    t = res.table.set_index(["unit", "class"])
    assert t.loc[(UNIT, "A"), "delta_class"] > 1.0 and t.loc[(UNIT, "A"), "causal"]
    assert t.loc[(UNIT, "A"), "delta_other"] == pytest.approx(0.0, abs=1e-3)
    assert t.loc[(UNIT, "A"), "p_value"] == pytest.approx(1 / 20)
    assert t.loc[(5, "A"), "flag"] == "no causal effect" and t.loc[(5, "A"), "p_value"] == 1.0
    assert list(res.flagged()["unit"]) == [5]
    assert len(res.random) == 19 * 2  # 19 random units x 2 classes


def test_loss_change_matches_a_direct_ablation():
    model = planted_model()
    seqs, labels = sequences(n=1)
    res = causal_effects(model, seqs, labels, [UnitTest("layer1.c", UNIT, "A")], n_random=2,
                         value="zero", progress=False)
    tokens = torch.as_tensor(seqs)
    with torch.no_grad():
        clean, _ = model(tokens)
        ablated, _ = run_stepwise(model, tokens, [[Intervention(1, "c", [UNIT])]])
    nll = lambda lg: -torch.log_softmax(lg[0, :-1], -1).gather(1, tokens[0, 1:, None])[:, 0]  # noqa: E731
    delta = (nll(ablated) - nll(clean)).numpy()
    is_a = np.array([v == "A" for v in labels[0][:-1]])
    row = res.table.set_index("class").loc["A"]
    assert row["delta_class"] == pytest.approx(delta[is_a].mean(), rel=1e-4)


def test_store_pipeline_concepts_then_causality(tmp_path):
    model = planted_model()
    vocab = Vocabulary("word", ["a", "b", "c", "d"])
    seqs, _ = sequences(n=40)
    words = [[vocab.itos[t] for t in s[1:]] for s in seqs]
    corpus = Corpus([Sentence(w, annotations={"xpos": ["A" if x == "a" else "X" for x in w]})
                     for w in words])
    store = extract(model, vocab, corpus, tmp_path / "s", components=["h", "c"], dtype="float32",
                    progress=False)
    found = concepts(store, feature="xpos", key="layer1.c")
    assert found.top_units("A")[0] == UNIT
    res = concept_causality(model, vocab, store, found, n_random=19, value="zero", progress=False)
    t = res.table.set_index("probe_class")
    assert t.loc["A", "causal"] and t.loc["X", "flag"] == "no causal effect"


def test_bad_unit_requests():
    model = planted_model()
    seqs, labels = sequences(n=2)
    with pytest.raises(RnnscopeError, match="no layer2.h"):
        causal_effects(model, seqs, labels, [UnitTest("layer2.h", 0)], progress=False)
    with pytest.raises(RnnscopeError, match="outside"):
        causal_effects(model, seqs, labels, [UnitTest("layer1.h", 99)], progress=False)
