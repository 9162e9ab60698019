"""A task-specific LSTM sentiment classifier (seed 000 §5.2), trained on SST-2.

The classifier is a :class:`~rnnscope.model.RecurrentLM` *backbone* (embedding + recurrent
layers; its decoder is unused) plus a linear head on the hidden state after the last token.
Keeping the backbone a ``RecurrentLM`` means every rnnscope tool reads the classifier's units
exactly like a language model's: the saved folder is a normal rnnscope checkpoint
(``config.json``, ``model.safetensors``, ``vocab.json``), so ``rnnscope extract --model DIR``
works on it, and the head (a few hundred numbers) is stored in ``config.json`` under
``"classifier"``. Nothing is pickled.

Word-level classifiers split text with :func:`tokenize` (words, clitics such as ``'s``, and
punctuation as separate tokens, case kept), close to treebank tokenisation so that probing the
classifier on a treebank's words sees mostly known words.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from rnnscope.checkpoint import load_native, read_config, save_model
from rnnscope.errors import CheckpointError, RnnscopeError
from rnnscope.extract import without_onednn
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary

TASK = "sentiment-classifier"
_TOKEN = re.compile(r"n't|\w+(?=n't)|'\w+|\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Treebank-like word split: ``"Don't stop."`` -> ``['Do', "n't", 'stop', '.']``."""
    return _TOKEN.findall(text)


def encode_text(vocab: Vocabulary, text: str) -> list[int]:
    """Ids of ``text`` for the classifier: tokenised words, or characters/bytes."""
    units = tokenize(text) if vocab.kind == "word" else vocab.units(text)
    return vocab.encode(units) or [vocab.eos_id]


class SentimentClassifier(nn.Module):
    """``RecurrentLM`` backbone -> hidden state after the last real token -> linear head."""

    def __init__(self, backbone: RecurrentLM, n_classes: int = 2, dropout: float = 0.3):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.config.output_sizes[-1], n_classes)  # the top h
        self.drop = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``tokens [B, T]`` right-padded, ``lengths [B]`` -> class logits ``[B, n_classes]``."""
        x = self.drop(self.backbone.embed(tokens))
        for layer in self.backbone.layers:
            x, _ = layer(x)
        last = x[torch.arange(len(lengths)), lengths - 1]
        return self.head(self.drop(last))


def _batch(ids: Sequence[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.as_tensor([len(s) for s in ids])
    tokens = torch.full((len(ids), int(lengths.max())), pad, dtype=torch.long)
    for j, s in enumerate(ids):
        tokens[j, : len(s)] = torch.as_tensor(s)
    return tokens, lengths


@torch.no_grad()
@without_onednn()
def predict(clf: SentimentClassifier, vocab: Vocabulary, texts: Sequence[str],
            batch_size: int = 128) -> np.ndarray:
    """Predicted class of every text."""
    clf.eval()
    ids = [encode_text(vocab, t) for t in texts]
    order = np.argsort([len(s) for s in ids])
    out = np.empty(len(ids), dtype=np.int64)
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        tokens, lengths = _batch([ids[i] for i in idx], vocab.eos_id)
        out[idx] = clf(tokens, lengths).argmax(1).cpu().numpy()
    return out


def accuracy(clf: SentimentClassifier, vocab: Vocabulary, texts: Sequence[str],
             labels: Sequence[int]) -> float:
    return float(np.mean(predict(clf, vocab, texts) == np.asarray(labels)))


@without_onednn()
def train_classifier(train: tuple[Sequence[str], Sequence[int]],
                     dev: tuple[Sequence[str], Sequence[int]], kind: str = "word",
                     cell: str = "lstm", emb_dim: int = 64, hidden_size: int = 64,
                     num_layers: int = 1, epochs: int = 4, batch_size: int = 32, lr: float = 2e-3,
                     max_vocab: int = 15000, seed: int = 0, progress: bool = True,
                     ) -> tuple[SentimentClassifier, Vocabulary, pd.DataFrame]:
    """Train on ``(texts, labels)``; keep the epoch with the best dev accuracy.

    Returns the classifier (eval mode), its vocabulary and a per-epoch history table
    (``epoch, train_loss, dev_accuracy``).
    """
    texts, labels = list(train[0]), np.asarray(train[1], dtype=np.int64)
    if len(texts) == 0:
        raise RnnscopeError("no training sentences")
    n_classes = int(labels.max()) + 1
    if n_classes < 2:
        raise RnnscopeError("training labels hold a single class")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lines = (" ".join(tokenize(t)) for t in texts) if kind == "word" else texts
    vocab = Vocabulary.build(kind, lines, max_size=max_vocab if kind == "word" else None)
    backbone = RecurrentLM(ModelConfig(vocab_size=len(vocab), cell=cell, emb_dim=emb_dim,
                                       hidden_size=hidden_size, num_layers=num_layers))
    clf = SentimentClassifier(backbone, n_classes)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    ids = [encode_text(vocab, t) for t in texts]
    best, best_state, history = -1.0, None, []
    for epoch in range(1, epochs + 1):
        clf.train()
        order = rng.permutation(len(ids))
        total = 0.0
        for b in tqdm(range(0, len(order), batch_size), desc=f"epoch {epoch}",
                      disable=not progress, leave=False):
            idx = order[b:b + batch_size]
            tokens, lengths = _batch([ids[i] for i in idx], vocab.eos_id)
            loss = nn.functional.cross_entropy(clf(tokens, lengths), torch.as_tensor(labels[idx]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(clf.parameters(), 5.0)
            opt.step()
            total += float(loss.detach()) * len(idx)
        dev_acc = accuracy(clf, vocab, dev[0], dev[1])
        history.append({"epoch": epoch, "train_loss": total / len(ids), "dev_accuracy": dev_acc})
        if dev_acc > best:
            best = dev_acc
            best_state = {k: v.detach().clone() for k, v in clf.state_dict().items()}
    clf.load_state_dict(best_state)
    return clf.eval(), vocab, pd.DataFrame(history)


def save_classifier(clf: SentimentClassifier, vocab: Vocabulary, path: str | Path,
                    extra: dict | None = None) -> Path:
    """A normal rnnscope checkpoint of the backbone, with the head in ``config.json``."""
    head = {"weight": clf.head.weight.detach().tolist(), "bias": clf.head.bias.detach().tolist()}
    return save_model(clf.backbone, vocab, path,
                      extra={"task": TASK, "classifier": head, "tokenizer": "rnnscope-words-1",
                             **(extra or {})})


def load_classifier(path: str | Path) -> tuple[SentimentClassifier, Vocabulary]:
    """Load what :func:`save_classifier` wrote (no pickle)."""
    config = read_config(path)
    if config.get("task") != TASK or "classifier" not in config:
        raise CheckpointError(f"{path}: not a sentiment classifier checkpoint (a language model?)")
    backbone, vocab = load_native(path)
    weight = torch.as_tensor(config["classifier"]["weight"], dtype=torch.float32)
    bias = torch.as_tensor(config["classifier"]["bias"], dtype=torch.float32)
    if weight.shape != (len(bias), backbone.config.output_sizes[-1]):
        raise CheckpointError(f"{path}: classifier head has shape {tuple(weight.shape)}")
    clf = SentimentClassifier(backbone, n_classes=len(bias))
    with torch.no_grad():
        clf.head.weight.copy_(weight)
        clf.head.bias.copy_(bias)
    return clf.eval(), vocab
