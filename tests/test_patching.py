"""Hook points and interchange interventions: exact in both limits, and a planted number unit
flips the verb when patched from the twin sentence."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rnnscope.agreement import generate, load_wordpools
from rnnscope.agreement.patching import interchange, interchange_pairs, patch_sweep
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError
from rnnscope.interventions import Intervention, run_stepwise
from tests.conftest import tiny_model
from tests.test_ablation import NUMBER_UNIT, na_vocab, number_unit_model


def test_hooks_read_and_replace_while_the_recurrence_runs():
    model = tiny_model("lstm", layers=2, hidden=12, vocab=30, emb=8, seed=1)
    tokens = torch.randint(0, 30, (3, 6))
    seen = {}
    logits, states = model.run_with_hooks(tokens, {"layer2.c": lambda v, t: seen.setdefault(t, v.clone())},
                                          components=["c"])
    with torch.no_grad():
        ref_logits, ref_states, _ = model.run_with_states(tokens)
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.stack([seen[t] for t in range(6)], 1), ref_states["layer2.c"],
                               atol=1e-5, rtol=1e-5)

    def zero_unit_4(v, t):
        v = v.clone()
        v[:, 4] = 0.0
        return v

    hooked, _ = model.run_with_hooks(tokens, {"layer1.h": zero_unit_4})
    ablated, _ = run_stepwise(model, tokens, [[Intervention(1, "h", [4])]] * 3)
    torch.testing.assert_close(hooked, ablated)
    assert (hooked - logits).abs().max() > 1e-4
    with pytest.raises(RnnscopeError, match="no hook point"):
        model.run_with_hooks(tokens, {"layer3.h": zero_unit_4})
    with pytest.raises(RnnscopeError, match="must return None or a tensor"):
        model.run_with_hooks(tokens, {"layer1.h": lambda v, t: v[:, :2]})


@pytest.mark.parametrize("cell,comps", [("lstm", ("h", "c")), ("gru", ("h",)), ("rnn", ("h",)),
                                        ("lstm_peephole", ("h", "c")), ("lstm_proj", ("h", "c"))])
def test_patching_every_unit_gives_the_source_and_none_the_base(cell, comps):
    model = tiny_model(cell, layers=2, hidden=10, vocab=25, emb=6, seed=2)
    base, source = torch.randint(0, 25, (4, 7)), torch.randint(0, 25, (4, 7))
    with torch.no_grad():
        base_logits, _ = model(base)
        source_logits, _ = model(source)
    everything = {f"layer1.{c}": torch.ones(model.config.width(1, c), dtype=torch.bool) for c in comps}
    patched, _ = interchange(model, base, source, everything)
    torch.testing.assert_close(patched, source_logits, atol=1e-5, rtol=1e-5)
    nothing = {f"layer1.{c}": torch.zeros(model.config.width(1, c), dtype=torch.bool) for c in comps}
    same, _ = interchange(model, base, source, nothing)
    torch.testing.assert_close(same, base_logits, atol=1e-5, rtol=1e-5)
    with pytest.raises(RnnscopeError, match="same shape"):
        interchange(model, base, source[:, :3], everything)


def test_the_hand_built_number_unit_flips_the_verb():
    pools = load_wordpools()
    vocab = na_vocab(pools)
    model = number_unit_model(pools, vocab)
    items = generate(["Simple", "NounPP"], n=20, seed=3)
    pairs = interchange_pairs(items)
    assert len(pairs) == len(items)  # every generated item has its twin
    assert all(b.subject_number != s.subject_number for b, s in pairs)
    res = patch_sweep(model, vocab, items, mode="both", max_rows=64)
    top = res.top(3)
    assert top.loc[0, "unit"] == NUMBER_UNIT and top.loc[0, "flip_rate"] == 1.0
    others = res.table[res.table["unit"] != NUMBER_UNIT]
    assert others["flip_rate"].max() == 0.0
    assert (res.table["base_accuracy"] == 1.0).all()
    wide = patch_sweep(model, vocab, items, mode="both", max_rows=100000)
    np.testing.assert_allclose(wide.margins, res.margins, atol=1e-5)


def test_the_sweep_never_computes_full_vocabulary_logits(monkeypatch):
    """Only the two verb forms' scores are needed: the output layer over the whole vocabulary
    (gigabytes for thousands of patched rows) must not run; states without logits are equal."""
    pools = load_wordpools()
    vocab = na_vocab(pools)
    model = number_unit_model(pools, vocab)
    tokens = torch.randint(0, len(vocab), (3, 5))
    logits, full = run_stepwise(model, tokens, components=["h", "c"])
    none, states = run_stepwise(model, tokens, components=["h", "c"], compute_logits=False)
    assert logits is not None and none is None
    for k, v in full.items():
        torch.testing.assert_close(states[k], v, rtol=0, atol=0)
    expected = patch_sweep(model, vocab, generate(["Simple"], n=5, seed=1), mode="h").margins

    def refuse(*_):
        raise AssertionError("full-vocabulary output computed")
    monkeypatch.setattr(model, "output", refuse)
    got = patch_sweep(model, vocab, generate(["Simple"], n=5, seed=1), mode="h").margins
    np.testing.assert_array_equal(got, expected)


def test_patch_cli(tmp_path):
    pools = load_wordpools()
    vocab = na_vocab(pools)
    save_model(number_unit_model(pools, vocab), vocab, tmp_path / "m")
    out = CliRunner().invoke(main, ["patch", str(tmp_path / "m"), "--tasks", "Simple", "--n", "10",
                                    "--case", "keep", "--out", str(tmp_path / "p")])
    assert out.exit_code == 0, out.output
    assert f"layer1.h:{NUMBER_UNIT}" in out.output
    import pandas as pd

    table = pd.read_csv(tmp_path / "p" / "patch_sweep.csv")
    best = table.groupby("unit")["flip_rate"].mean().idxmax()
    assert best == NUMBER_UNIT
