"""State gradients: forward-mode tangents equal finite differences and the reverse-mode reference."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnscope.analysis.gradients import reverse_mode_gradients, state_gradient_sums
from rnnscope.errors import RnnscopeError
from tests.conftest import tiny_model


def _fd_jacobian(model, tokens, state, t, tau, eps=1e-6):
    """Central finite differences of state[t+tau] w.r.t. the embedding at t: [H, E]."""
    torch.set_grad_enabled(False)
    x = model.embed(tokens[None]).detach()
    cols = []
    for k in range(x.shape[-1]):
        outs = []
        for sign in (1, -1):
            xp = x.clone()
            xp[0, t, k] += sign * eps
            _, rec, _ = model.run_with_states(inputs_embeds=xp, components=[state.split(".")[1]],
                                              compute_logits=False)
            outs.append(rec[state][0, t + tau])
        cols.append((outs[0] - outs[1]) / (2 * eps))
    torch.set_grad_enabled(True)
    return torch.stack(cols, 1).numpy()


CASES = [("lstm", "layer1.c"), ("lstm", "layer2.h"), ("lstm", "layer2.c"), ("gru", "layer2.h"),
         ("rnn", "layer2.h"), ("gru", "layer1.h"), ("rnn", "layer1.h"), ("rnn_relu", "layer2.h"),
         ("lstm_peephole", "layer1.c"), ("lstm_peephole", "layer2.h"), ("lstm_proj", "layer1.c"),
         ("lstm_proj", "layer2.h"), ("lstm_proj", "layer2.c")]


@pytest.mark.parametrize("cell,state", CASES)
def test_gradients_equal_finite_differences(cell, state):
    model = tiny_model(cell, layers=2, hidden=12, vocab=20, emb=5, seed=1).double()
    torch.manual_seed(3)
    tokens = torch.randint(0, 20, (9,))
    T = 4
    # label only position 0, so the group's sums are the single Jacobians G[0, tau]
    labels = [[("s" if t == 0 else None) for t in range(7)]]
    res = state_gradient_sums(model, [tokens[2:]], state, T, labels)
    sums, counts = res.groups["s"]
    for tau in range(T + 1):
        fd = _fd_jacobian(model, tokens[2:], state, 0, tau)
        assert counts[tau] == 1
        err = np.abs(sums[tau] - fd).max() / np.abs(fd).max()
        assert err < 1e-3, (tau, err)
        assert np.abs(fd).max() > 1e-6  # the test is not vacuous


def test_sums_equal_reverse_mode_reference():
    model = tiny_model("lstm", layers=1, hidden=8, vocab=15, emb=4, seed=2).double()
    tokens = torch.randint(0, 15, (10,), generator=torch.Generator().manual_seed(0))
    T = 3
    res = state_gradient_sums(model, [tokens], "layer1.c", T, start_chunk=3)
    ref = reverse_mode_gradients(model, tokens, "layer1.c", list(range(10)), T)
    for tau in range(T + 1):
        assert res.all_count[tau] == 10 - tau
        np.testing.assert_allclose(res.all_sum[tau], np.nansum(ref[:, tau], 0), rtol=1e-9, atol=1e-12)


def test_groups_and_passes_agree():
    model = tiny_model("gru", layers=1, hidden=6, vocab=12, emb=3, seed=4).double()
    g = torch.Generator().manual_seed(1)
    seqs = [torch.randint(0, 12, (n,), generator=g) for n in (7, 11, 5)]
    labels = [[int(x) % 3 for x in s] for s in seqs]
    one = state_gradient_sums(model, seqs, "layer1.h", 4, labels)
    many = state_gradient_sums(model, seqs, "layer1.h", 4, labels, max_bytes=1, start_chunk=2)
    assert sorted(one.groups) == [0, 1, 2]
    np.testing.assert_allclose(one.all_sum, many.all_sum, rtol=1e-10)
    total = sum(one.groups[k][0] for k in one.groups)
    np.testing.assert_allclose(total, one.all_sum, rtol=1e-10, atol=1e-14)
    for k in one.groups:
        np.testing.assert_allclose(one.groups[k][0], many.groups[k][0], rtol=1e-10, atol=1e-14)
        np.testing.assert_array_equal(one.groups[k][1], many.groups[k][1])


def test_bad_input_messages():
    model = tiny_model("lstm", layers=1, hidden=4, vocab=10, emb=3)
    with pytest.raises(RnnscopeError, match="not shorter than every sequence"):
        state_gradient_sums(model, [torch.arange(5)], "layer1.c", 5)
    with pytest.raises(RnnscopeError, match="gates are not states"):
        state_gradient_sums(model, [torch.arange(5)], "layer1.f", 2)
    with pytest.raises(RnnscopeError, match="only 1 layer"):
        state_gradient_sums(model, [torch.arange(5)], "layer2.c", 2)
    gru = tiny_model("gru", layers=1, hidden=4, vocab=10, emb=3)
    with pytest.raises(RnnscopeError, match="gru state gradients"):
        state_gradient_sums(gru, [torch.arange(5)], "layer1.c", 2)


def test_model_without_embedding_is_refused():
    model = tiny_model("lstm", layers=1, hidden=4, vocab=10, emb=3)
    model.encoder = None
    with pytest.raises(RnnscopeError, match="no input embedding"):
        state_gradient_sums(model, [torch.arange(5)], "layer1.c", 2)


def test_ptb_normalise_and_corpus_sequences():
    from rnnscope.analysis.gradients import corpus_sequences, ptb_normalise
    from rnnscope.corpus.types import Corpus, Sentence
    from rnnscope.vocab import Vocabulary

    s = Sentence(["Pierre", "Vinken", ",", "61", "years", "old", ",", "rose", "3\\/4", "%", "."],
                 {"xpos": ["NNP", "NNP", ",", "CD", "NNS", "JJ", ",", "VBD", "CD", "NN", "."]})
    c = ptb_normalise(Corpus([s], "t"))
    assert c.sentences[0].words == ["pierre", "vinken", "N", "years", "old", "rose", "N", "N"]
    assert c.sentences[0].annotations["xpos"] == ["NNP", "NNP", "CD", "NNS", "JJ", "VBD", "CD", "NN"]
    vocab = Vocabulary("word", ["N", "years", "old", "rose"])
    seqs, labels = corpus_sequences(list(c) * 3, vocab, "xpos", window=10)
    assert [len(x) for x in seqs] == [10, 10, 7]  # 3 x (8 words + <eos>) = 27 units
    assert labels[0][:3] == ["NNP", "NNP", "CD"] and labels[0][8] is None  # <eos> has no tag
    assert seqs[0][0] == vocab.unk_id and seqs[0][8] == vocab.eos_id


def test_wsj_sample_pos_groups(shared_data):
    from rnnscope.analysis.gradients import corpus_sequences, ptb_normalise
    from rnnscope.analysis.memory import memory
    from rnnscope.corpus.ptb_trees import read_wsj_treebank
    from rnnscope.vocab import Vocabulary

    c = ptb_normalise(read_wsj_treebank(shared_data / "nltk_treebank" / "treebank.zip", max_files=2))
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in c])
    model = tiny_model("lstm", layers=1, hidden=8, vocab=len(vocab), emb=4)
    seqs, labels = corpus_sequences(c, vocab, "xpos", window=40)
    res = memory(model, seqs, "layer1.c", 5, labels, basis="raw")
    rank = res.ranking(0)
    assert {"NN", "DT", "IN"} <= set(rank.group) and "," not in set(rank.group)
    assert rank["count"].sum() == res.counts["all"][0] - len(c.sentences)  # every <eos> is untagged
