"""fastai AWD-LSTM and Flair character LMs: files in exactly their libraries' layouts, converted,
give the source model's logits. Neither library installs cleanly beside torch 2.13 here, so
each fixture writes the layout of the version named in its docstring."""
from __future__ import annotations

import pickle
import sys
import types
from collections import OrderedDict

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from rnnscope.checkpoint import load_native
from rnnscope.cli import main
from rnnscope.errors import CheckpointError
from rnnscope.importers import import_checkpoint


# -- fastai 2.7: fastai.text.models.awdlstm.AWD_LSTM + LinearDecoder, learn.save(with_opt=True) --
def _awd_lstm(tmp_path, V=23, E=6, H=10, n_layers=3, v1=False):
    """Writes lm.pth and itos.pkl; returns (path, reference forward(tokens [B, T]) -> logits)."""
    g = torch.Generator().manual_seed(0)
    enc = nn.Embedding(V, E)
    rnns = [nn.LSTM(E if k == 0 else H, H if k < n_layers - 1 else E, batch_first=True)
            for k in range(n_layers)]
    dec = nn.Linear(E, V)
    with torch.no_grad():
        for p in [enc.weight, dec.bias, *(p for r in rnns for p in r.parameters())]:
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    dec.weight = enc.weight  # tie_weights=True, as language_model_learner builds it
    sd = OrderedDict([("0.encoder.weight", enc.weight.data), ("0.encoder_dp.emb.weight", enc.weight.data)])
    for k, r in enumerate(rnns):
        sd[f"0.rnns.{k}.weight_hh_l0_raw"] = r.weight_hh_l0.data  # WeightDropout's raw weight
        sd[f"0.rnns.{k}.module.weight_ih_l0"] = r.weight_ih_l0.data
        if v1:  # fastai 1.x also kept the dropped-out copy among the module's parameters
            sd[f"0.rnns.{k}.module.weight_hh_l0"] = r.weight_hh_l0.data
        sd[f"0.rnns.{k}.module.bias_ih_l0"] = r.bias_ih_l0.data
        sd[f"0.rnns.{k}.module.bias_hh_l0"] = r.bias_hh_l0.data
    sd["1.decoder.weight"] = dec.weight.data
    sd["1.decoder.bias"] = dec.bias.data
    torch.save({"model": sd, "opt": {"state": [], "hypers": [{"lr": 1e-3, "mom": 0.9}]}},
               tmp_path / "lm.pth")
    itos = ["xxunk", "xxpad", "xxbos", "xxeos", "xxfld", "xxrep", "xxwrep", "xxup", "xxmaj"]
    itos += [f"w{i}" for i in range(V - len(itos))]
    (tmp_path / "itos.pkl").write_bytes(pickle.dumps(itos))

    @torch.no_grad()
    def forward(tokens):
        x = enc(tokens)
        for r in rnns:
            x, _ = r(x)
        return dec(x)
    return tmp_path / "lm.pth", forward, itos


@pytest.mark.parametrize("v1", [False, True])
def test_awd_lstm_logits_match(tmp_path, v1):
    path, forward, itos = _awd_lstm(tmp_path, v1=v1)
    model, vocab = import_checkpoint(path, vocab=tmp_path / "itos.pkl")
    assert model.config.sizes == (10, 10, 6) and model.config.tie_weights
    assert vocab.itos[0] == "<unk>" and vocab.itos[2] == "<eos>" and vocab.itos[3] == "xxeos"
    assert len(vocab) == len(itos)  # nothing added: xxunk and xxbos are the specials
    tokens = torch.randint(0, len(itos), (3, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, _ = model(tokens)
    torch.testing.assert_close(ours, forward(tokens), rtol=1e-5, atol=1e-5)


def test_awd_lstm_convert_and_errors(tmp_path):
    path, forward, _ = _awd_lstm(tmp_path)
    res = CliRunner().invoke(main, ["convert", str(path), "--vocab", str(tmp_path / "itos.pkl"),
                                    "--out", str(tmp_path / "awd")])
    assert res.exit_code == 0, res.output
    assert "lstm 10-10-6" in res.output
    model, _ = load_native(tmp_path / "awd")
    tokens = torch.randint(0, 20, (2, 5))
    with torch.no_grad():
        torch.testing.assert_close(model(tokens)[0], forward(tokens), rtol=1e-5, atol=1e-5)
    (tmp_path / "itos.pkl").unlink()
    with pytest.raises(CheckpointError, match="give its vocabulary with --vocab"):
        import_checkpoint(path)
    (tmp_path / "bad.pkl").write_bytes(pickle.dumps(["xxunk", "a"]))
    with pytest.raises(CheckpointError, match="has 2 entries but the checkpoint's embedding has 23"):
        import_checkpoint(path, vocab=tmp_path / "bad.pkl")


# -- flair 0.13: flair.models.LanguageModel.save -----------------------------------------------
@pytest.fixture
def flair_dictionary():
    """A stand-in ``flair.data.Dictionary`` (same module path and attributes) for writing files."""
    flair, data = types.ModuleType("flair"), types.ModuleType("flair.data")

    class Dictionary:
        def __init__(self, add_unk=True):
            self.item2idx, self.idx2item = {}, []
            self.add_unk, self.multi_label, self.span_labels = add_unk, False, False
            if add_unk:
                self.add_item("<unk>")

        def add_item(self, item: str) -> int:
            b = item.encode("utf-8")
            if b not in self.item2idx:
                self.idx2item.append(b)
                self.item2idx[b] = len(self.idx2item) - 1
            return self.item2idx[b]

    Dictionary.__module__, Dictionary.__qualname__ = "flair.data", "Dictionary"
    data.Dictionary, flair.data = Dictionary, data
    sys.modules.update({"flair": flair, "flair.data": data})
    yield Dictionary
    for name in ("flair", "flair.data"):
        sys.modules.pop(name, None)


def _flair_lm(tmp_path, Dictionary, forward=True, add_unk=True, layers=1, E=5, H=8):
    d = Dictionary(add_unk=add_unk)
    for ch in "\n abcdefé":
        d.add_item(ch)
    V = len(d.idx2item)
    g = torch.Generator().manual_seed(2)
    enc, rnn, dec = nn.Embedding(V, E), nn.LSTM(E, H, layers), nn.Linear(H, V)  # time-first
    with torch.no_grad():
        for p in [*enc.parameters(), *rnn.parameters(), *dec.parameters()]:
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    sd = OrderedDict([("encoder.weight", enc.weight.data)])
    sd.update({f"rnn.{k}": v for k, v in rnn.state_dict().items()})
    sd.update({"decoder.weight": dec.weight.data, "decoder.bias": dec.bias.data})
    state = {"state_dict": sd, "dictionary": d, "is_forward_lm": forward, "hidden_size": H,
             "nlayers": layers, "embedding_size": E, "nout": None, "document_delimiter": "\n",
             "dropout": 0.1, "recurrent_type": "LSTM", "has_decoder": True}
    path = tmp_path / ("news-forward.pt" if forward else "news-backward.pt")
    torch.save(state, path, pickle_protocol=4)

    @torch.no_grad()
    def reference(tokens):  # tokens [B, T] -> logits [B, T, V]; Flair runs time-first
        out, _ = rnn(enc(tokens.T))
        return dec(out).transpose(0, 1)
    return path, reference, [b.decode() for b in d.idx2item]


@pytest.mark.parametrize("forward,layers", [(True, 1), (False, 2)])
def test_flair_logits_match(tmp_path, flair_dictionary, forward, layers):
    path, reference, items = _flair_lm(tmp_path, flair_dictionary, forward, layers=layers)
    sys.modules.pop("flair.data"), sys.modules.pop("flair")  # the reader never needs flair
    model, vocab = import_checkpoint(path)
    assert vocab.kind == "char" and vocab.itos[0] == "<unk>" and vocab.itos[1] == "<eos>"
    assert vocab.itos[len(items) - 1] == "é" and len(vocab) == len(items)
    assert model.imported["direction"] == ("forward" if forward else "backward")
    tokens = torch.randint(0, len(items), (2, 7), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model(tokens)[0], reference(tokens), rtol=1e-5, atol=1e-5)
    res = CliRunner().invoke(main, ["convert", str(path), "--out", str(tmp_path / "conv")])
    assert res.exit_code == 0, res.output
    assert ("backward language model" in res.output) == (not forward)


def test_flair_without_unk_gets_an_entry_it_never_predicts(tmp_path, flair_dictionary):
    path, reference, items = _flair_lm(tmp_path, flair_dictionary, add_unk=False)
    model, vocab = import_checkpoint(path)
    assert len(vocab) == len(items) + 1 and vocab.itos[-1] == "<unk>"
    tokens = torch.randint(0, len(items), (2, 6), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        logits, _ = model(tokens)
    torch.testing.assert_close(logits[..., :len(items)], reference(tokens), rtol=1e-5, atol=1e-5)
    assert torch.softmax(logits, -1)[..., -1].max() < 1e-30


def test_flair_unpickling_allows_only_its_dictionary(tmp_path, flair_dictionary):
    path, _, _ = _flair_lm(tmp_path, flair_dictionary)

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))
    state = torch.load(path, weights_only=False)
    state["extra"] = Payload()
    torch.save(state, tmp_path / "evil.pt")  # pickle protocol 2: bytes through _codecs.encode
    with pytest.raises(CheckpointError, match=r"refusing to unpickle (__builtin__|builtins)\.print"):
        import_checkpoint(tmp_path / "evil.pt")
