"""PyTorch examples/word_language_model checkpoints: the whole pickled RNNModel and the
vocabulary its data.Corpus builds, imported with logits equal to the source model's."""
from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
import torch

from rnnscope.errors import CheckpointError
from rnnscope.importers import import_checkpoint, read_vocab

# model.py and data.py of github.com/pytorch/examples/word_language_model (main branch, 2024),
# reduced to what a checkpoint holds: the same class names, attributes and forward.
MODEL_PY = textwrap.dedent('''
    import torch.nn as nn
    import torch.nn.functional as F

    class RNNModel(nn.Module):
        def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
            super(RNNModel, self).__init__()
            self.ntoken = ntoken
            self.drop = nn.Dropout(dropout)
            self.encoder = nn.Embedding(ntoken, ninp)
            if rnn_type in ['LSTM', 'GRU']:
                self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
            else:
                nonlinearity = {'RNN_TANH': 'tanh', 'RNN_RELU': 'relu'}[rnn_type]
                self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
            self.decoder = nn.Linear(nhid, ntoken)
            if tie_weights:
                self.decoder.weight = self.encoder.weight
            self.init_weights()
            self.rnn_type = rnn_type
            self.nhid = nhid
            self.nlayers = nlayers

        def init_weights(self):
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            output = self.drop(output)
            decoded = self.decoder(output)
            decoded = decoded.view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden
''')
DATA_PY = textwrap.dedent('''
    class Dictionary(object):
        def __init__(self):
            self.word2idx = {}
            self.idx2word = []

        def add_word(self, word):
            if word not in self.word2idx:
                self.idx2word.append(word)
                self.word2idx[word] = len(self.idx2word) - 1
            return self.word2idx[word]

    def build(paths):
        d = Dictionary()
        for path in paths:
            with open(path, 'r', encoding="utf8") as f:
                for line in f:
                    for word in line.split() + ['<eos>']:
                        d.add_word(word)
        return d
''')


@pytest.fixture
def example(tmp_path):
    """Writes the example's data folder, model.py and data.py; trains nothing (random init)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.txt").write_text(" the cat sat on the mat \n a dog <unk> ran \n")
    (data / "valid.txt").write_text(" the dog sat \n")
    (data / "test.txt").write_text(" a cat ran on <unk> \n")
    (tmp_path / "model.py").write_text(MODEL_PY)
    (tmp_path / "data.py").write_text(DATA_PY)
    sys.path.insert(0, str(tmp_path))

    def make(rnn_type="LSTM", tie=False, layers=2, nhid=16, ninp=16):
        mod, dat = importlib.import_module("model"), importlib.import_module("data")
        dictionary = dat.build([data / f"{s}.txt" for s in ("train", "valid", "test")])
        torch.manual_seed(0)
        net = mod.RNNModel(rnn_type, len(dictionary.idx2word), ninp, nhid, layers, 0.2, tie).eval()
        torch.save(net, tmp_path / "model.pt")  # main.py: torch.save(model, f)
        torch.save(dictionary, tmp_path / "dict.pt")
        tokens = torch.randint(0, len(dictionary.idx2word), (7, 2))  # [T, B]: time-first
        with torch.no_grad():
            expected, _ = net(tokens, None)
        return tmp_path / "model.pt", dictionary, tokens, expected

    yield make
    for name in ("model", "data"):
        sys.modules.pop(name, None)
    sys.path.remove(str(tmp_path))


@pytest.mark.parametrize("rnn_type,tie", [("LSTM", False), ("GRU", False), ("RNN_TANH", False),
                                          ("RNN_RELU", False), ("LSTM", True)])
def test_example_checkpoint_logits_match(example, rnn_type, tie):
    ckpt, dictionary, tokens, expected = example(rnn_type, tie)
    for name in ("model", "data"):  # the classes are not importable when we read the file
        sys.modules.pop(name, None)
    model, vocab = import_checkpoint(ckpt, vocab=ckpt.parent / "data")
    assert vocab.itos == dictionary.idx2word  # the data.Corpus order, <unk> and <eos> included
    assert model.config.tie_weights == tie
    with torch.no_grad():
        ours, _ = model(tokens.T)
    ours = torch.log_softmax(ours.transpose(0, 1).reshape(-1, len(vocab)), dim=-1)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)
    pickled_vocab = read_vocab(ckpt.parent / "dict.pt")  # torch.save(corpus.dictionary)
    assert pickled_vocab.itos == dictionary.idx2word


def test_relu_rnn_is_imported_as_relu_not_tanh(example):
    ckpt, *_ = example("RNN_RELU")
    for name in ("model", "data"):
        sys.modules.pop(name, None)
    model, _ = import_checkpoint(ckpt, vocab=ckpt.parent / "data")
    assert model.cell == "rnn_relu" and model.layers[0].nonlinearity == "relu"


def test_data_folder_without_splits_is_a_clear_error(tmp_path):
    (tmp_path / "train.txt").write_text("a b\n")
    with pytest.raises(CheckpointError, match="missing valid.txt, test.txt"):
        read_vocab(tmp_path)
