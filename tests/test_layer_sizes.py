"""Layers of different sizes (AWD-LSTM's 1150-1150-400): every path agrees with every other."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnscope.agreement import ablation_sweep, generate, load_wordpools, reference_sweep
from rnnscope.agreement.connectivity import connectivity
from rnnscope.agreement.patching import interchange
from rnnscope.analysis.gradients import state_gradient_sums
from rnnscope.checkpoint import load_native, save_model
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.errors import RnnscopeError
from rnnscope.extract import extract
from rnnscope.interventions import Intervention, ablate_outgoing, run_stepwise
from rnnscope.keys import global_unit
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.store import ActivationStore
from tests.test_ablation import na_vocab

SIZES = (9, 13, 6)


def _model(cell="lstm", vocab=30, emb=5, seed=0):
    torch.manual_seed(seed)
    model = RecurrentLM(ModelConfig(vocab_size=vocab, cell=cell, emb_dim=emb, num_layers=3,
                                    layer_sizes=SIZES))
    with torch.no_grad():
        for layer in model.layers:
            for p in layer.parameters():
                p.mul_(3.0)
    return model.eval()


def test_config_sizes_and_old_configs():
    cfg = ModelConfig(vocab_size=10, num_layers=3, layer_sizes=SIZES)
    assert cfg.sizes == SIZES and cfg.hidden_size == 6 and cfg.layer_size(2) == 13
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    uniform = ModelConfig(vocab_size=10, num_layers=2, hidden_size=8)
    assert "layer_sizes" not in uniform.to_dict() and uniform.sizes == (8, 8)  # old layout kept
    with pytest.raises(RnnscopeError, match="one per layer"):
        ModelConfig(vocab_size=10, num_layers=2, layer_sizes=(4, 5, 6))
    with pytest.raises(RnnscopeError, match="layer_sizes must be a list"):
        ModelConfig.from_dict({"vocab_size": 10, "num_layers": 2, "layer_sizes": [4, "5"]})
    assert global_unit(3, 2, SIZES) == 9 + 13 + 2 and global_unit(2, 2, 650) == 652


@pytest.mark.parametrize("cell", ["lstm", "gru", "lstm_peephole"])
def test_paths_agree_and_interventions_respect_each_layers_size(cell):
    model = _model(cell).double()
    tokens = torch.randint(0, 30, (2, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        fused, _ = model(tokens)
        logits, states, _ = model.run_with_states(tokens)
        step_logits, step_states = run_stepwise(model, tokens, components=None)
    torch.testing.assert_close(logits, fused)
    torch.testing.assert_close(step_logits, fused)
    for n, size in enumerate(SIZES, 1):
        assert states[f"layer{n}.h"].shape == (2, 8, size)
        torch.testing.assert_close(states[f"layer{n}.h"], step_states[f"layer{n}.h"])
    with torch.no_grad():
        held, _ = run_stepwise(model, tokens, [[Intervention(2, "h", [12])]] * 2)
        torch.testing.assert_close(ablate_outgoing(model, 2, [12])(tokens)[0], held)
    with pytest.raises(RnnscopeError, match=r"units must be in 0\.\.5"):
        run_stepwise(model, tokens, [[Intervention(3, "h", [7])]] * 2)


def test_ablation_sweep_and_patching_on_uneven_layers():
    pools = load_wordpools()
    vocab = na_vocab(pools)
    model = _model(vocab=len(vocab), seed=3)
    items = generate(["Simple", "NounPP"], n=2, seed=4)
    res = ablation_sweep(model, vocab, items, mode="both", max_rows=9, progress=False)
    assert len(res.units) == sum(SIZES)
    assert res.units["global_unit"].tolist() == list(range(sum(SIZES)))
    for layer, size in enumerate(SIZES, 1):
        ref = reference_sweep(model, vocab, items, layer, list(range(size)), mode="both")
        got = res.diffs[(res.units["layer"] == layer).to_numpy()]
        np.testing.assert_allclose(got, ref, atol=1e-5)
    base, source = torch.randint(0, len(vocab), (3, 6)), torch.randint(0, len(vocab), (3, 6))
    with torch.no_grad():
        source_logits, _ = model(source)
    every = {"layer2.h": torch.ones(13, dtype=torch.bool), "layer2.c": torch.ones(13, dtype=torch.bool)}
    patched, _ = interchange(model, base, source, every)
    torch.testing.assert_close(patched, source_logits, atol=1e-5, rtol=1e-5)


def test_gradients_connectivity_extraction_and_checkpoints(tmp_path):
    model = _model().double()
    tokens = torch.randint(0, 30, (12,), generator=torch.Generator().manual_seed(2))
    res = state_gradient_sums(model, [tokens], "layer2.c", 3)
    assert res.all_sum.shape == (4, 13, 5)
    conn = connectivity(model, sources=[(1, 8), (2, 3)], targets=[(2, 12)])
    assert set(conn.table["source_global"]) == {8, 9 + 3}
    assert (conn.table["target_global"] == 9 + 12).all()
    row = conn.table[(conn.table.source_layer == 1) & (conn.table.gate == "f")].iloc[0]
    assert row.weight == pytest.approx(float(model.layers[1].weight_ih_l0[13 + 12, 8].detach()))
    # extraction writes each layer at its own width, and a store reads them back
    from rnnscope.vocab import Vocabulary

    vocab = Vocabulary.build("word", ["a b c d e f g h"])
    small = RecurrentLM(ModelConfig(vocab_size=len(vocab), emb_dim=4, num_layers=3, layer_sizes=SIZES)).eval()
    corpus = Corpus([Sentence(["a", "b", "c"]), Sentence(["d", "e"])], name="toy")
    store = extract(small, vocab, corpus, tmp_path / "store", progress=False)
    again = ActivationStore.open(tmp_path / "store")
    for n, size in enumerate(SIZES, 1):
        assert again.width(f"layer{n}.c") == size
        assert again.get(f"layer{n}.h").shape == (len(store), size)
    with torch.no_grad():
        ids = [vocab.eos_id] + [vocab.stoi[w] for w in "a b c".split()]  # read as [<eos>] + words
        _, rec, _ = small.run_with_states(torch.tensor([ids]))
    np.testing.assert_allclose(again.get("layer2.h")[:3], rec["layer2.h"][0, 1:].numpy(), atol=1e-3)
    save_model(small, vocab, tmp_path / "m")
    loaded, _ = load_native(tmp_path / "m")
    assert loaded.config.sizes == SIZES
