"""Importers: plain LM state dicts and the pickled colorlessgreen RNNModel, via an allow-list."""
from __future__ import annotations

import importlib
import os
import pickle
import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner

from rnnscope.checkpoint import load_model
from rnnscope.cli import main
from rnnscope.errors import CheckpointError
from rnnscope.importers import import_checkpoint

# The RNNModel of github.com/facebookresearch/colorlessgreenRNNs (src/language_models/model.py),
# reduced to what a checkpoint contains.
MODEL_PY = textwrap.dedent('''
    import torch.nn as nn

    class RNNModel(nn.Module):
        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
            super().__init__()
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)
            if tie_weights:
                self.decoder.weight = self.encoder.weight
            self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            return self.decoder(output), hidden
''')




def _forget_model_module(tmp_path):
    sys.modules.pop("model", None)
    while str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))
    importlib.invalidate_caches()


@pytest.fixture
def colorlessgreen(tmp_path):
    """A colorlessgreen-style checkpoint + vocab.txt; the class cannot be imported afterwards."""
    def make(rnn_type="LSTM", layers=2, ntoken=30, ninp=12, nhid=16, tie=False, legacy=False):
        (tmp_path / "model.py").write_text(MODEL_PY)
        sys.path.insert(0, str(tmp_path))
        try:
            mod = importlib.import_module("model")
            torch.manual_seed(3)
            net = mod.RNNModel(rnn_type, ntoken, ninp, nhid, layers, dropout=0.2, tie_weights=tie).eval()
            ckpt = tmp_path / "hidden16.pt"
            torch.save(net, ckpt, _use_new_zipfile_serialization=not legacy)
            tokens = torch.randint(0, ntoken, (9, 3))  # [T, B], colorlessgreen is time-first
            with torch.no_grad():
                expected, _ = net(tokens, None)
        finally:
            _forget_model_module(tmp_path)
            (tmp_path / "model.py").unlink()
        (tmp_path / "vocab.txt").write_text("\n".join(["<unk>", "<eos>"] + [f"w{i}" for i in range(ntoken - 2)]) + "\n")
        return ckpt, tokens, expected
    yield make
    _forget_model_module(tmp_path)


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("rnn_type,tie", [("LSTM", False), ("GRU", False), ("LSTM", True)])
def test_colorlessgreen_logits_match(colorlessgreen, rnn_type, tie, legacy):
    ckpt, tokens, expected = colorlessgreen(rnn_type=rnn_type, tie=tie, nhid=12 if tie else 16,
                                            legacy=legacy)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("model")  # the class really is gone
    model, vocab = import_checkpoint(ckpt)  # vocab.txt found next to it
    assert model.config.cell == rnn_type.lower() and model.config.num_layers == 2
    assert model.config.tie_weights == tie
    assert vocab.itos[:3] == ["<unk>", "<eos>", "w0"] and len(vocab) == 30
    logits, _ = model(tokens.T)  # ours is batch-first
    torch.testing.assert_close(logits.transpose(0, 1), expected, rtol=1e-5, atol=1e-5)


def test_plain_state_dict_with_vocab_file(tmp_path):
    torch.manual_seed(0)
    enc, rnn, dec = torch.nn.Embedding(20, 8), torch.nn.LSTM(8, 10, 3), torch.nn.Linear(10, 20)
    sd = {**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
          **{f"rnn.{k}": v for k, v in rnn.state_dict().items()},
          **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}
    torch.save(sd, tmp_path / "lm.pt")
    vocab_file = tmp_path / "words.txt"
    vocab_file.write_text("\n".join([f"w{i}" for i in range(18)] + ["<unk>", "<eos>"]))
    model, vocab = load_model(tmp_path / "lm.pt", vocab=vocab_file)
    assert (model.config.cell, model.config.num_layers, model.config.hidden_size) == ("lstm", 3, 10)
    assert vocab.stoi["w5"] == 5
    x = torch.randint(0, 20, (7, 2))
    with torch.no_grad():
        expected = dec(rnn(enc(x))[0])
    torch.testing.assert_close(model(x.T)[0].transpose(0, 1), expected, rtol=1e-5, atol=1e-5)


def test_projected_lstm_state_dict_becomes_lstm_proj(tmp_path):
    """A Jozefowicz-style LM: nn.LSTM(proj_size=P) state dict -> lstm_proj, logits equal."""
    torch.manual_seed(1)
    enc, rnn = torch.nn.Embedding(20, 6), torch.nn.LSTM(6, 10, 2, proj_size=4)
    dec = torch.nn.Linear(4, 20)
    sd = {**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
          **{f"rnn.{k}": v for k, v in rnn.state_dict().items()},
          **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}
    torch.save(sd, tmp_path / "lm.pt")
    vocab_file = tmp_path / "words.txt"
    vocab_file.write_text("\n".join([f"w{i}" for i in range(18)] + ["<unk>", "<eos>"]))
    model, _ = load_model(tmp_path / "lm.pt", vocab=vocab_file)
    c = model.config
    assert (c.cell, c.num_layers, c.hidden_size, c.proj_size) == ("lstm_proj", 2, 10, 4)
    x = torch.randint(0, 20, (7, 2))
    with torch.no_grad():
        expected = dec(rnn(enc(x))[0])
        torch.testing.assert_close(model(x.T)[0].transpose(0, 1), expected, rtol=1e-5, atol=1e-5)
    sd["rnn.weight_hr_l0"] = torch.zeros(3, 10)
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="does not project"):
        load_model(tmp_path / "bad.pt", vocab=vocab_file)


def test_vocab_size_mismatch_is_refused(colorlessgreen, tmp_path):
    ckpt, _, _ = colorlessgreen()
    short = tmp_path / "short.txt"
    short.write_text("<unk>\n<eos>\na\n")
    with pytest.raises(CheckpointError, match="vocabulary has 3 entries"):
        import_checkpoint(ckpt, vocab=short)


def test_inconsistent_shapes_are_refused(tmp_path):
    sd = {"encoder.weight": torch.zeros(20, 8), "rnn.weight_ih_l0": torch.zeros(40, 9),
          "rnn.weight_hh_l0": torch.zeros(40, 10), "decoder.weight": torch.zeros(20, 10)}
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="weight_ih_l0 has shape"):
        import_checkpoint(tmp_path / "bad.pt", vocab=_vocab(tmp_path, 20))


def _vocab(tmp_path, n):
    p = tmp_path / "v.txt"
    p.write_text("\n".join(["<unk>", "<eos>"] + [f"w{i}" for i in range(n - 2)]))
    return p


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("zipped", [True, False])
def test_malicious_pickle_never_runs(tmp_path, zipped):
    target = tmp_path / "pwned"
    ckpt = tmp_path / "evil.pt"
    if zipped:
        torch.save({"encoder.weight": torch.zeros(3, 2), "x": _Payload(target)}, ckpt)
    else:
        ckpt.write_bytes(pickle.dumps(_Payload(target)))
    with pytest.raises(CheckpointError, match=r"refusing to unpickle (posix|os|nt)\.system"):
        import_checkpoint(ckpt, vocab=_vocab(tmp_path, 3))
    result = CliRunner().invoke(main, ["convert", str(ckpt), "--vocab", str(_vocab(tmp_path, 3)),
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "refusing to unpickle" in result.output and "--trust-pickle" in result.output
    assert "Traceback" not in result.output
    assert not target.exists()


def test_trust_pickle_allows_loading(colorlessgreen, tmp_path):
    ckpt, tokens, expected = colorlessgreen()
    (tmp_path / "model.py").write_text(MODEL_PY)  # trusting needs the real class importable
    sys.path.insert(0, str(tmp_path))
    model, _ = import_checkpoint(ckpt, trust_pickle=True)
    torch.testing.assert_close(model(tokens.T)[0].transpose(0, 1), expected, rtol=1e-5, atol=1e-5)


def test_convert_cli_writes_native_and_other_commands_accept_source(colorlessgreen, tmp_path):
    ckpt, tokens, expected = colorlessgreen()
    out = tmp_path / "native"
    result = CliRunner().invoke(main, ["convert", str(ckpt), "--vocab", str(tmp_path / "vocab.txt"),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    model, vocab = load_model(out)
    torch.testing.assert_close(model(tokens.T)[0].transpose(0, 1), expected, rtol=1e-5, atol=1e-5)
    result = CliRunner().invoke(main, ["sample", "--model", str(ckpt), "--length", "5",
                                       "--temperature", "0", "--prime", "w1"])
    assert result.exit_code == 0, result.output
    assert len(result.output.split()) == 6


def test_missing_checkpoint_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "not found" in result.output


def test_trust_pickle_names_what_it_will_run(tmp_path, capsys):
    """--trust-pickle warns, naming the file and the classes/functions the pickle constructs."""
    from rnnscope.importers import pickle_globals, read_pickled

    target = tmp_path / "ran"
    ckpt = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2), "x": _Payload(target)}, ckpt)
    names = pickle_globals(ckpt)
    assert any(n.endswith(".system") for n in names)
    assert not target.exists()  # reading the names ran nothing
    read_pickled(ckpt, trust_pickle=True)
    err = capsys.readouterr().err
    assert err.startswith("warning: --trust-pickle") and "evil.pt" in err and "system" in err
