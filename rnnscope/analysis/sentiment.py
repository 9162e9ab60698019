"""The sentiment neuron (Radford et al. 2017, replicated in seed 002) on SST-2.

A char/byte language model reads each review, preprocessed as seed 002 describes (newlines
become spaces, the text is stripped, ``"\\n "`` is put in front and ``"\\n"`` at the end); the
final cell state is the review's feature vector. An L1-regularised logistic regression is
fitted on the training reviews with ``C`` chosen on dev; we report test accuracy of that
classifier and of the *single dominant unit* (largest absolute weight) used alone with a
threshold fitted on train, plus the weight plot and the histogram of that unit by class. The paper's
single-unit classifier uses a *fixed* threshold at 0 (the unit's sign decides, in the direction
of its L1 weight); both are reported: ``unit`` (threshold and direction fitted on train) and
``unit_at_zero`` (the paper's rule).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def split(n):
...     y = rng.integers(0, 2, n); X = rng.normal(size=(n, 16)); X[:, 5] -= 2 * y
...     return X, y
>>> res = sentiment_neuron_arrays(split(400), split(100), split(200))
>>> res.unit, bool(res.accuracy("unit", "test") > 0.8)
(5, True)
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from rnnscope.analysis.sparse_logreg import LinearProbe  # noqa: E402
from rnnscope.errors import CorpusError, RnnscopeError  # noqa: E402
from rnnscope.extract import without_onednn  # noqa: E402
from rnnscope.figures.curves import match_histogram  # noqa: E402
from rnnscope.keys import key as make_key  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

DEFAULT_CS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
SPLITS = ("train", "dev", "test")


# -- data ----------------------------------------------------------------------------------
def read_sst2(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read an SST-2 CSV with header ``label,sentence`` (labels 0/1)."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"SST-2 file not found: {p}")
    texts, labels = [], []
    with open(p, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["label", "sentence"]:
            raise CorpusError(f"{p}:1: expected the header 'label,sentence', found {header}")
        for lineno, row in enumerate(reader, start=2):
            if len(row) != 2 or row[0].strip() not in ("0", "1"):
                raise CorpusError(f"{p}:{lineno}: expected 'label,sentence' with label 0 or 1")
            labels.append(int(row[0]))
            texts.append(row[1])
    if not texts:
        raise CorpusError(f"{p}: no reviews")
    return texts, np.asarray(labels, dtype=np.int64)


def sst2_files(data_dir: str | Path) -> dict[str, Path]:
    """``{train, dev, test}`` CSV paths of an SST-2 folder (``*_binary_sent.csv`` names)."""
    d = Path(data_dir)
    out = {}
    for split in SPLITS:
        hits = sorted(d.glob(f"{split}*.csv"))
        if not hits:
            raise CorpusError(f"{d}: no {split}*.csv (expected train/dev/test_binary_sent.csv)")
        out[split] = hits[0]
    return out


def preprocess_review(text: str) -> str:
    """Seed 002: newlines -> spaces, strip, ``"\\n "`` in front and ``"\\n"`` at the end."""
    return "\n " + text.replace("\n", " ").strip() + "\n"


@torch.no_grad()
@without_onednn()
def final_states(model, vocab, texts: Sequence[str], component: str = "c",
                 layer: int | None = None, batch_size: int = 64, preprocess: bool = True,
                 progress: bool = False) -> np.ndarray:
    """``[len(texts), H]``: ``component`` of ``layer`` (default top) after each text's last unit."""
    if component not in model.components:
        raise RnnscopeError(f"{model.cell} has no component {component!r} "
                            f"(it has {', '.join(model.components)})")
    layer = layer or model.config.num_layers
    if not 1 <= layer <= model.config.num_layers:
        raise RnnscopeError(f"layer {layer} does not exist (model has {model.config.num_layers})")
    k = make_key(layer, component)
    ids = [vocab.encode(vocab.units(preprocess_review(t) if preprocess else t)) or [vocab.eos_id]
           for t in texts]
    order = np.argsort([len(s) for s in ids])
    out = np.empty((len(ids), model.config.width(layer, component)), dtype=np.float32)
    model.eval()
    for b in tqdm(range(0, len(order), batch_size), desc="final states", disable=not progress,
                  leave=False):
        idx = order[b:b + batch_size]
        lengths = torch.as_tensor([len(ids[i]) for i in idx])
        tokens = torch.full((len(idx), int(lengths.max())), vocab.eos_id, dtype=torch.long)
        for j, i in enumerate(idx):
            tokens[j, : len(ids[i])] = torch.as_tensor(ids[i])
        _, states, _ = model.run_with_states(tokens, components=[component], compute_logits=False)
        out[idx] = states[k][torch.arange(len(idx)), lengths - 1].cpu().numpy()
    return out


# -- analysis --------------------------------------------------------------------------------
@dataclass
class SentimentResult(HtmlRepr):
    """Accuracies (``table``: classifier x split), the chosen ``C``, the L1 ``weights``, the
    dominant ``unit`` with its train-fitted ``threshold`` and ``sign`` (+1: larger = positive),
    the dev sweep ``c_sweep``, and the unit's values per split (for the histogram).

    Classifiers in ``table``: ``full`` (the L1 logistic regression on every unit), ``unit``
    (the dominant unit with the threshold and direction fitted on train) and ``unit_at_zero``
    (the paper's rule: positive when ``sign(weight) * value > 0``, no fitting at all)."""

    _html_plot = "plot_weights"

    table: pd.DataFrame
    C: float
    weights: np.ndarray
    unit: int
    threshold: float
    sign: int
    c_sweep: pd.DataFrame
    values: dict = field(default_factory=dict, repr=False)  # split -> (unit values, labels)

    def _html_caption(self) -> str:
        return f"C = {self.C:g}, {self.n_nonzero} non-zero weights, dominant unit {self.unit}"

    def accuracy(self, classifier: str, split: str) -> float:
        t = self.table
        return float(t[(t["classifier"] == classifier) & (t["split"] == split)]["accuracy"].iloc[0])

    @property
    def n_nonzero(self) -> int:
        return int(np.sum(self.weights != 0))

    def plot_weights(self) -> plt.Figure:
        """The L1 classifier's weight of every unit; the dominant one labelled."""
        fig, ax = plt.subplots(figsize=(6, 2.8))
        ax.bar(np.arange(len(self.weights)), self.weights, width=1.0)
        ax.annotate(str(self.unit), (self.unit, self.weights[self.unit]), ha="center", fontsize=8)
        ax.set_xlabel("unit")
        ax.set_ylabel("weight")
        ax.set_title(f"L1 logistic regression weights (C={self.C:g}, {self.n_nonzero} non-zero)")
        fig.tight_layout()
        return fig

    def plot_histogram(self, split: str = "train") -> plt.Figure:
        """The dominant unit's values, positive vs negative reviews."""
        v, y = self.values[split]
        return match_histogram(v, y == 1, labels=("positive", "negative"),
                               title=f"unit {self.unit} on {split} (threshold {self.threshold:.3g})")


def fit_threshold(values: np.ndarray, labels: np.ndarray) -> tuple[float, int, float]:
    """Threshold and direction maximising accuracy of ``label = [sign * (v - t) > 0]``."""
    order = np.argsort(values, kind="stable")
    v, y = values[order], labels[order].astype(bool)
    n = len(v)
    # predicting positive above a cut after position j: correct = negatives <= j + positives > j
    neg_below = np.concatenate([[0], np.cumsum(~y)])
    pos_above = y.sum() - np.concatenate([[0], np.cumsum(y)])
    acc_up = (neg_below + pos_above) / n
    acc_down = 1.0 - acc_up
    j_up, j_down = int(np.argmax(acc_up)), int(np.argmax(acc_down))
    j, sign = (j_up, 1) if acc_up[j_up] >= acc_down[j_down] else (j_down, -1)
    cuts = np.concatenate([[v[0] - 1.0], (v[:-1] + v[1:]) / 2.0, [v[-1] + 1.0]])
    return float(cuts[j]), sign, float(max(acc_up[j_up], acc_down[j_down]))


def sentiment_neuron_arrays(train: tuple[np.ndarray, np.ndarray], dev: tuple[np.ndarray, np.ndarray],
                            test: tuple[np.ndarray, np.ndarray],
                            Cs: Sequence[float] = DEFAULT_CS) -> SentimentResult:
    """Fit the L1 classifier (C by dev accuracy) and the single-unit classifier on features."""
    data = {"train": train, "dev": dev, "test": test}
    for split, (X, y) in data.items():
        if len(X) != len(y) or len(X) == 0:
            raise RnnscopeError(f"{split}: {len(X)} feature rows but {len(y)} labels")
    if len(np.unique(train[1])) != 2:
        raise RnnscopeError("the training reviews must hold both classes (0 and 1)")
    sweep, best = [], None
    for C in Cs:
        probe = LinearProbe(C=C, penalty="l1", multi="ovr").fit(train[0], train[1])
        acc = probe.score(dev[0], dev[1])
        sweep.append({"C": C, "dev_accuracy": acc, "nonzero": int(np.sum(probe.coef_ != 0))})
        if best is None or acc > best[0]:
            best = (acc, C, probe)
    _, C, probe = best
    w = probe.coef_[0]
    unit = int(np.argmax(np.abs(w)))
    threshold, sign, _ = fit_threshold(train[0][:, unit], train[1])
    weight_sign = 1 if w[unit] > 0 else -1
    rows = []
    for split, (X, y) in data.items():
        rows.append({"classifier": "full", "split": split, "accuracy": probe.score(X, y)})
        pred = (sign * (X[:, unit] - threshold) > 0).astype(int)
        rows.append({"classifier": "unit", "split": split, "accuracy": float(np.mean(pred == y))})
        at_zero = (weight_sign * X[:, unit] > 0).astype(int)
        rows.append({"classifier": "unit_at_zero", "split": split,
                     "accuracy": float(np.mean(at_zero == y))})
    return SentimentResult(table=pd.DataFrame(rows), C=C, weights=w, unit=unit,
                           threshold=threshold, sign=sign, c_sweep=pd.DataFrame(sweep),
                           values={s: (X[:, unit].copy(), np.asarray(y)) for s, (X, y) in data.items()})


def sentiment_neuron(model, vocab, data_dir: str | Path, component: str = "c",
                     layer: int | None = None, Cs: Sequence[float] = DEFAULT_CS,
                     max_reviews: int | None = None, batch_size: int = 64,
                     progress: bool = True) -> SentimentResult:
    """Run ``model`` over SST-2 (``train/dev/test*.csv`` in ``data_dir``) and find its neuron.

    ``max_reviews`` keeps the first N reviews of each split (for quick looks).
    """
    if vocab.kind == "word":
        raise RnnscopeError("the sentiment neuron needs a char or byte language model "
                            "(this vocabulary is word-level)")
    if component not in model.components:
        component = "h"
    feats = {}
    for split, path in sst2_files(data_dir).items():
        texts, labels = read_sst2(path)
        if max_reviews:
            texts, labels = texts[:max_reviews], labels[:max_reviews]
        feats[split] = (final_states(model, vocab, texts, component, layer, batch_size,
                                     progress=progress), labels)
    return sentiment_neuron_arrays(feats["train"], feats["dev"], feats["test"], Cs)
