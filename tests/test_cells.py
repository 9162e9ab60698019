"""Cell families: each defined once, each consistent with PyTorch and with itself.

The per-family equalities of the fused, recorded and stepwise paths, of ablations and of state
gradients are parametrised over every family in ``test_model.py``, ``test_ablation.py``,
``test_patching.py`` and ``test_gradients.py``; here are the family-specific facts.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnscope.cells import cell_names, get_cell
from rnnscope.cells.base import run_steps
from rnnscope.checkpoint import load_native, save_model
from rnnscope.errors import RnnscopeError
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model

ROOT = Path(__file__).resolve().parents[1]


def test_no_module_outside_cells_branches_on_a_family_or_reads_pytorch_weight_names():
    pattern = re.compile(r"weight_(ih|hh)_l|cell *[!=]= *['\"]")
    offenders = []
    for path in sorted((ROOT / "rnnscope").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("rnnscope/cells/") or rel.startswith("rnnscope/importers"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


def test_registry_names_match_their_cells_and_refuse_unknown_names():
    for name in cell_names():
        assert get_cell(name).name == name
        assert get_cell(name).components[0] == "h"
    with pytest.raises(RnnscopeError, match="unknown cell 'lstmm'; choose lstm, gru"):
        get_cell("lstmm")
    with pytest.raises(RnnscopeError, match="unknown cell"):
        ModelConfig(vocab_size=5, cell="transformer")


def test_listing_cell_names_does_not_import_torch():
    code = "import sys; from rnnscope.cells import cell_names; cell_names(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_relu_rnn_is_pytorchs_relu_rnn():
    model = tiny_model("rnn_relu", layers=1, hidden=6, vocab=9, emb=4).double()
    layer = model.layers[0]
    assert isinstance(layer, nn.RNN) and layer.nonlinearity == "relu"
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    by_hand, h = [], torch.zeros(2, 6, dtype=torch.float64)
    for t in range(5):
        h = torch.relu(x[:, t] @ layer.weight_ih_l0.T + layer.bias_ih_l0 + h @ layer.weight_hh_l0.T
                       + layer.bias_hh_l0)
        by_hand.append(h)
    rec, _ = run_steps(get_cell("rnn_relu"), layer, x, layer(x)[1] * 0, ["h"])
    torch.testing.assert_close(rec["h"], torch.stack(by_hand, 1))
    assert bool((rec["h"] == 0).any())  # the ReLU clips somewhere: not a linear RNN by accident


def _peephole_and_lstm(seed=0):
    torch.manual_seed(seed)
    peep = RecurrentLM(ModelConfig(vocab_size=12, cell="lstm_peephole", emb_dim=5, hidden_size=7,
                                   num_layers=2)).double().eval()
    plain = RecurrentLM(ModelConfig(vocab_size=12, cell="lstm", emb_dim=5, hidden_size=7,
                                    num_layers=2)).double().eval()
    state = {k: v for k, v in peep.state_dict().items() if "weight_peep" not in k}
    plain.load_state_dict(state)
    return peep, plain


def test_peephole_lstm_follows_seed_000_equations():
    peep, plain = _peephole_and_lstm()
    tokens = torch.randint(0, 12, (3, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits, rec, _ = peep.run_with_states(tokens)
        # the peepholes matter ...
        assert (logits - plain(tokens)[0]).abs().max() > 1e-3
        # ... and with them at zero it is exactly PyTorch's LSTM on the same weights
        for layer in peep.layers:
            layer.weight_peep_l0.zero_()
        torch.testing.assert_close(peep(tokens)[0], plain(tokens)[0])
    # equations (1)-(5) by hand for layer 1, with the recorded c_{t-1}
    peep, _ = _peephole_and_lstm()
    layer = peep.layers[0]
    x = peep.embed(tokens).detach()
    with torch.no_grad():
        _, rec, _ = peep.run_with_states(inputs_embeds=x)
        h = c = torch.zeros(3, 7, dtype=torch.float64)
        p = layer.weight_peep_l0
        for t in range(8):
            pre = x[:, t] @ layer.weight_ih_l0.T + layer.bias_ih_l0 + h @ layer.weight_hh_l0.T + layer.bias_hh_l0
            a_i, a_f, a_g, a_o = pre.chunk(4, dim=1)
            i, f = torch.sigmoid(a_i + p[0] * c), torch.sigmoid(a_f + p[1] * c)
            o = torch.sigmoid(a_o + p[2] * c)
            c = f * c + i * torch.tanh(a_g)
            h = o * torch.tanh(c)
            torch.testing.assert_close(rec["layer1.c"][:, t], c)
            torch.testing.assert_close(rec["layer1.o"][:, t], o)
            torch.testing.assert_close(rec["layer1.h"][:, t], h)


def test_peephole_lstm_trains_its_peepholes():
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=10, cell="lstm_peephole", emb_dim=4, hidden_size=6))
    tokens = torch.randint(0, 10, (4, 9))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    before = model.layers[0].weight_peep_l0.detach().clone()
    losses = []
    for _ in range(15):
        x, _ = model.forward_hidden(tokens[:, :-1])
        loss = model.loss(x, tokens[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.3
    assert not torch.equal(model.layers[0].weight_peep_l0, before)


@pytest.mark.parametrize("cell", ["rnn_relu", "lstm_peephole", "lstm_proj"])
def test_new_families_save_and_load(tmp_path, cell):
    vocab = Vocabulary.build("word", ["a b c d e f"])
    model = tiny_model(cell, layers=2, hidden=5, vocab=len(vocab), emb=3)
    save_model(model, vocab, tmp_path / "m")
    again, _ = load_native(tmp_path / "m")
    tokens = torch.randint(0, len(vocab), (2, 6))
    with torch.no_grad():
        torch.testing.assert_close(again(tokens)[0], model(tokens)[0])
    assert again.cell == cell


def test_projected_lstm_is_pytorchs_lstm_with_proj_size():
    """lstm_proj == nn.LSTM(proj_size=P) on the same weights; h is P wide, c/gates/m H wide,
    and h = m W_hr^T at every step (the recorded m is the unprojected output)."""
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=12, cell="lstm_proj", emb_dim=5, hidden_size=8,
                                    num_layers=2, proj_size=3)).double().eval()
    assert [tuple(p.shape) for p in model.layers[1].parameters()][:2] == [(32, 3), (32, 3)]
    ref = nn.LSTM(5, 8, num_layers=2, proj_size=3, batch_first=True).double()
    with torch.no_grad():
        for n, layer in enumerate(model.layers):
            for name, value in layer.named_parameters():
                getattr(ref, name.replace("_l0", f"_l{n}")).copy_(value)
    tokens = torch.randint(0, 12, (2, 7), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits, rec, final = model.run_with_states(tokens)
        out, (h_n, c_n) = ref(model.embed(tokens))
    torch.testing.assert_close(rec["layer2.h"], out)
    torch.testing.assert_close(final[1][1][0], c_n[1])
    assert rec["layer1.h"].shape == (2, 7, 3) and rec["layer1.c"].shape == (2, 7, 8)
    assert rec["layer2.m"].shape == (2, 7, 8) and model.config.width(2, "m") == 8
    w_hr = model.layers[1].weight_hr_l0
    torch.testing.assert_close(rec["layer2.h"], rec["layer2.m"] @ w_hr.T)
    torch.testing.assert_close(rec["layer2.m"], rec["layer2.o"] * torch.tanh(rec["layer2.c"]))
    assert model.config.state_widths(1) == (3, 8)


def test_projected_lstm_config_is_checked_and_old_configs_keep_loading():
    with pytest.raises(RnnscopeError, match="0 < proj_size"):
        ModelConfig(vocab_size=10, cell="lstm_proj", hidden_size=8)
    with pytest.raises(RnnscopeError, match="0 < proj_size"):
        ModelConfig(vocab_size=10, cell="lstm_proj", hidden_size=8, proj_size=8)
    with pytest.raises(RnnscopeError, match="does not"):
        ModelConfig(vocab_size=10, cell="lstm", hidden_size=8, proj_size=4)
    with pytest.raises(RnnscopeError, match="proj_size must be a non-negative integer"):
        ModelConfig.from_dict({"vocab_size": 10, "cell": "lstm_proj", "proj_size": "4"})
    cfg = ModelConfig(vocab_size=10, cell="lstm_proj", hidden_size=8, proj_size=4, num_layers=2)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg and cfg.output_sizes == (4, 4)
    assert "proj_size" not in ModelConfig(vocab_size=10).to_dict()  # old layout unchanged


def test_projected_lstm_trains_and_its_interventions_use_each_components_width():
    from rnnscope.interventions import Intervention, run_stepwise

    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=10, cell="lstm_proj", emb_dim=4, hidden_size=8,
                                    proj_size=4))
    tokens = torch.randint(0, 10, (4, 9))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(25):
        x, _ = model.forward_hidden(tokens[:, :-1])
        loss = model.loss(x, tokens[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.3
    model.eval()
    with torch.no_grad():
        _, held = run_stepwise(model, tokens, [[Intervention(1, "c", [7])]] * 4, components=["c"])
        assert torch.all(held["layer1.c"][:, :, 7] == 0)
        with pytest.raises(RnnscopeError, match=r"units must be in 0\.\.3"):
            run_stepwise(model, tokens, [[Intervention(1, "h", [5])]] * 4)


def test_projected_lstm_extracts_each_component_at_its_width_and_resumes(tmp_path):
    """A store of an lstm_proj model: h is proj_size wide, c and m the layer's size; the
    stored values are the model's, and an interrupted carried-state extraction (h narrower
    than c in the saved state) resumes to the uninterrupted store."""
    import numpy as np

    from rnnscope.corpus.types import Corpus, Sentence
    from rnnscope.extract import extract
    from rnnscope.store import ActivationStore

    words = "a b c d e f g h".split()
    vocab = Vocabulary.build("word", [" ".join(words)])
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=len(vocab), cell="lstm_proj", emb_dim=4,
                                    hidden_size=7, proj_size=3, num_layers=2)).eval()
    corpus = Corpus([Sentence(words[k % 5:k % 5 + 3]) for k in range(30)], name="toy")
    kw = dict(progress=False, reset="carry", chunk_rows=8)
    full = extract(model, vocab, corpus, tmp_path / "full", **kw)
    assert full.width("layer2.h") == 3 and full.width("layer2.c") == 7 and full.width("layer1.m") == 7
    with torch.no_grad():
        ids = [vocab.eos_id] + [vocab.stoi[w] for w in corpus.sentences[0].words]
        _, rec, _ = model.run_with_states(torch.tensor([ids]))
    np.testing.assert_allclose(full.get("layer2.m")[:3], rec["layer2.m"][0, 1:].numpy(), atol=1e-3)
    np.testing.assert_allclose(full.get("layer1.h")[:3], rec["layer1.h"][0, 1:].numpy(), atol=1e-3)

    class Stop(Exception):
        pass

    def stop(windows_done, rows):
        if windows_done == 2:
            raise Stop

    with pytest.raises(Stop):
        extract(model, vocab, corpus, tmp_path / "cut", callback=stop, **kw)
    resumed = extract(model, vocab, corpus, tmp_path / "cut", resume=True, **kw)
    for k in full.keys():
        np.testing.assert_array_equal(resumed.get(k), full.get(k))
    assert ActivationStore.open(tmp_path / "cut").width("layer1.c") == 7


def test_projected_lstm_through_the_commands(tmp_path):
    """An lstm_proj model through extract, probe, ablate (h and c), patch, gradients and
    connectivity from the command line; unit names carry each component's own width."""
    from click.testing import CliRunner

    from rnnscope.cli import main
    from rnnscope.corpus.generated import agreement_conllu
    from rnnscope.corpus.readers import read_corpus

    conllu = tmp_path / "c.conllu"
    conllu.write_text(agreement_conllu(n=6, seed=0), encoding="utf-8")
    corpus = read_corpus(conllu)
    (tmp_path / "t.txt").write_text("".join(" ".join(s.words) + "\n" for s in corpus))
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in corpus])
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=len(vocab), cell="lstm_proj", emb_dim=6,
                                    hidden_size=10, proj_size=4, num_layers=2)).eval()
    save_model(model, vocab, tmp_path / "m")
    m = str(tmp_path / "m")
    run = lambda *args: CliRunner().invoke(main, list(args))  # noqa: E731
    out = run("extract", "--model", m, "--corpus", str(conllu), "--out", str(tmp_path / "s"),
              "--no-progress")
    assert out.exit_code == 0, out.output
    out = run("probe", str(tmp_path / "s"), "--feature", "upos", "--no-control")
    assert out.exit_code == 0 and "layer2.m" in out.output, out.output
    out = run("ablate", m, "--n", "3", "--mode", "c", "--out", str(tmp_path / "abl"))
    assert out.exit_code == 0, out.output
    import pandas as pd

    sweep = pd.read_csv(tmp_path / "abl" / "ablation_sweep.csv")
    assert sweep["unit_name"].str.startswith("layer2.c:").any() and sweep["unit"].max() == 9
    out = run("ablate", m, "--n", "3", "--mode", "both")
    assert out.exit_code == 2 and "use h or c" in out.output
    out = run("patch", m, "--n", "3", "--mode", "h")
    assert out.exit_code == 0 and "layer2.h:3" in out.output, out.output
    out = run("gradients", "--model", m, "--corpus", str(tmp_path / "t.txt"), "--state",
              "layer2.h", "--max-delay", "2", "--window", "8")
    assert out.exit_code == 0 and "sigma1" in out.output, out.output
    out = run("connectivity", m, "--sources", "layer2.h:3", "--targets", "layer2.c:9")  # a cell
    assert out.exit_code == 0 and "layer2.f:9" in out.output, out.output
    bad = run("connectivity", m, "--sources", "layer2.h:7", "--targets", "layer2.c:9")
    assert bad.exit_code == 2 and "0..3" in bad.output, bad.output
