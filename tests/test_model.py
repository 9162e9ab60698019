"""The fused path, the all-components path and the stepwise path agree on every component."""
from __future__ import annotations

import pytest
import torch

from rnnscope.interventions import Intervention, ablate_outgoing, run_stepwise
from rnnscope.cells import cell_names, get_cell
from tests.conftest import tiny_model


@pytest.mark.parametrize("cell", cell_names())
def test_run_with_states_matches_fused_and_stepwise(cell):
    model = tiny_model(cell).double()  # float64: the ReLU RNN's states grow to ~100
    tokens = torch.randint(0, 50, (3, 17))
    with torch.no_grad():
        fused_logits, fused_state = model(tokens)
        logits, states, final = model.run_with_states(tokens)
        step_logits, step_states = run_stepwise(model, tokens, components=None)
    assert torch.allclose(logits, fused_logits, atol=1e-5)
    assert torch.allclose(step_logits, fused_logits, atol=1e-5)
    assert set(states) == {f"layer{n}.{c}" for n in (1, 2) for c in get_cell(cell).components}
    for name, value in states.items():
        n, comp = int(name[5]), name.split(".")[1]
        assert value.shape == (3, 17, model.config.width(n, comp)) == (3, 17, 16 if (
            comp == "h" and cell == "lstm_proj") else 32)
        assert torch.allclose(value, step_states[name], atol=1e-5), name
    # the last recorded h (and c) equal the fused final state
    carries_c = "c" in get_cell(cell).state
    top_h = fused_state[-1][0] if carries_c else fused_state[-1]
    assert torch.allclose(states["layer2.h"][:, -1], top_h[0], atol=1e-5)
    if carries_c:
        assert torch.allclose(states["layer2.c"][:, -1], fused_state[-1][1][0], atol=1e-5)


def test_state_carries_across_calls():
    model = tiny_model("lstm")
    tokens = torch.randint(0, 50, (2, 12))
    with torch.no_grad():
        _, whole, _ = model.run_with_states(tokens)
        _, first, state = model.run_with_states(tokens[:, :5])
        _, second, _ = model.run_with_states(tokens[:, 5:], state=state)
    assert torch.allclose(torch.cat([first["layer1.c"], second["layer1.c"]], 1), whole["layer1.c"], atol=1e-5)


def test_intervention_changes_only_its_row_and_later_steps():
    model = tiny_model("lstm")
    tokens = torch.randint(0, 50, (1, 10)).expand(3, -1)
    rows = [[], [Intervention(layer=1, component="c", units=[4], steps=[5])],
            [Intervention(layer=2, component="h", units=[1, 2], value=0.5)]]
    with torch.no_grad():
        logits, states = run_stepwise(model, tokens, rows, components=["c", "h"])
    c1 = states["layer1.c"]
    assert torch.equal(c1[1, :5], c1[0, :5])           # before the intervention: identical
    assert c1[1, 5, 4] == 0 and c1[0, 5, 4] != 0        # held at zero at step 5
    assert not torch.allclose(c1[1, 6:], c1[0, 6:])     # and it propagates afterwards
    assert torch.all(states["layer2.h"][2, :, [1, 2]] == 0.5)
    assert torch.equal(states["layer1.c"][2], states["layer1.c"][0])  # layer-2 clamp leaves layer 1
    assert not torch.allclose(logits[2], logits[0])


@pytest.mark.parametrize("cell", cell_names())
@pytest.mark.parametrize("layer", [1, 2])
def test_outgoing_ablation_equals_holding_h_at_zero(cell, layer):
    model = tiny_model(cell)
    tokens = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        ablated_logits, _ = ablate_outgoing(model, layer, [3, 7])(tokens)
        rows = [[Intervention(layer=layer, component="h", units=[3, 7])]] * 2
        clamped_logits, _ = run_stepwise(model, tokens, rows)
    assert torch.allclose(ablated_logits, clamped_logits, atol=1e-5)


def test_logits_for_selects_columns():
    model = tiny_model("gru")
    tokens = torch.randint(0, 50, (2, 6))
    with torch.no_grad():
        full, _ = run_stepwise(model, tokens)
        two, _ = run_stepwise(model, tokens, logits_for=torch.tensor([7, 3]))
    assert torch.allclose(two, full[..., [7, 3]], atol=1e-6)
