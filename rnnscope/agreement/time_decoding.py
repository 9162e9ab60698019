"""Generalisation across time of subject number (King & Dehaene 2014; seed Fig. 2).

A linear classifier (standardised logistic regression) is trained on activity at one word
position and tested at every position, for every training position: the full train x test
matrix of ROC-AUC, cross-validated (stratified folds; mean and std over folds). The row of the
subject position is the paper's curve: a unit that stores the subject's number keeps AUC near 1
up to the verb; one that follows the last noun falls below 0.5 (its code flips) after an
incongruent attractor.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING


import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from rnnscope.agreement.states import sentence_states, units_key_matrix  # noqa: E402
from rnnscope.agreement.tasks import NAItem  # noqa: E402
from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.keys import key  # noqa: E402
from rnnscope.model import RecurrentLM  # noqa: E402
from rnnscope.vocab import Vocabulary  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


@dataclass
class TimeDecodingResult(HtmlRepr):
    """``auc[train, test]`` (mean over folds), ``auc_std``, position ``labels``."""

    _html_table = "from_position"
    _html_plot = "plot"

    auc: np.ndarray
    auc_std: np.ndarray
    labels: list[str]
    train_position: int

    @property
    def table(self) -> pd.DataFrame:
        """Long table: train_position, test_position, labels, auc, auc_std."""
        t = len(self.labels)
        tr, te = np.meshgrid(np.arange(t), np.arange(t), indexing="ij")
        return pd.DataFrame({"train_position": tr.ravel(), "test_position": te.ravel(),
                             "train_label": np.array(self.labels)[tr.ravel()],
                             "test_label": np.array(self.labels)[te.ravel()],
                             "auc": self.auc.ravel(), "auc_std": self.auc_std.ravel()})

    def from_position(self, position: int | None = None) -> pd.DataFrame:
        """AUC at every test position of the classifier trained at ``position`` (default:
        the subject)."""
        p = self.train_position if position is None else position
        return pd.DataFrame({"position": range(len(self.labels)), "label": self.labels,
                             "auc": self.auc[p], "auc_std": self.auc_std[p]})

    def plot(self, position: int | None = None, ax=None) -> plt.Figure:
        """AUC across test positions for the classifier trained at ``position``."""
        import matplotlib.pyplot as plt
        row = self.from_position(position)
        fig = ax.figure if ax is not None else plt.figure(figsize=(5, 3))
        ax = ax or fig.add_subplot()
        ax.errorbar(row["position"], row["auc"], yerr=row["auc_std"], capsize=2)
        ax.axhline(0.5, color="grey", ls="--", lw=1)
        ax.set_xticks(row["position"], row["label"], rotation=60, fontsize=7)
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("ROC-AUC")
        fig.tight_layout()
        return fig

    def plot_matrix(self) -> plt.Figure:
        """The train x test AUC matrix."""
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4.5, 4))
        im = ax.imshow(self.auc, vmin=0, vmax=1, cmap="RdBu_r", origin="lower")
        ticks = range(len(self.labels))
        ax.set_xticks(ticks, self.labels, rotation=60, fontsize=7)
        ax.set_yticks(ticks, self.labels, fontsize=7)
        ax.set_xlabel("test position")
        ax.set_ylabel("train position")
        fig.colorbar(im, ax=ax, label="ROC-AUC")
        fig.tight_layout()
        return fig


def auc_columns(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC-AUC of every column of ``scores [n, k]`` for binary ``y`` (Mann-Whitney U, ties
    averaged; equals ``sklearn.metrics.roc_auc_score`` column by column)."""
    ranks = rankdata(scores, axis=0)
    pos = np.asarray(y) == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum(0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def decode_across_time(X: np.ndarray, y: np.ndarray, labels: Sequence[str] | None = None,
                       train_position: int = 0, cv: int = 5, seed: int = 0,
                       C: float = 1.0) -> TimeDecodingResult:
    """Train at every position of ``X [items, T, features]``, test at every position.

    ``y`` holds the binary class of each item (e.g. 1 = plural subject).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 3 or len(X) != len(y):
        raise RnnscopeError(f"X must be [items, positions, features] with one label per item; "
                            f"got X {X.shape} and {len(y)} labels")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) != 2 or counts.min() < cv:
        raise RnnscopeError(f"need two classes with at least {cv} items each for {cv}-fold "
                            f"cross-validation; got counts {dict(zip(classes.tolist(), counts.tolist()))}")
    n_pos = X.shape[1]
    folds = StratifiedKFold(cv, shuffle=True, random_state=seed).split(X[:, 0], y)
    aucs = np.empty((cv, n_pos, n_pos))
    for f, (train, test) in enumerate(folds):
        flat = X[test].reshape(-1, X.shape[2])  # every test position at once
        for t in range(n_pos):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
            clf.fit(X[train, t], y[train])
            scores = clf.decision_function(flat).reshape(len(test), n_pos)
            aucs[f, t] = auc_columns(y[test], scores)
    labels = list(labels) if labels is not None else [str(t) for t in range(n_pos)]
    return TimeDecodingResult(aucs.mean(0), aucs.std(0), labels, train_position)


def subject_position(item: NAItem) -> int | None:
    """0-based index of ``item``'s subject in its prefix, where the item says it.

    Generated items label their slots (``subj``); file readers may record
    ``extra["subject_index"]``. ``None`` when the item does not say.
    """
    if "subj" in item.labels:
        return list(item.labels).index("subj")
    value = item.extra.get("subject_index") if item.extra else None
    return int(value) if value is not None else None


def time_decoding(model: RecurrentLM, vocab: Vocabulary, items: Sequence[NAItem],
                  units: Sequence[tuple[int, int]], component: str = "c",
                  include_verb: bool = True, cv: int = 5, seed: int = 0,
                  C: float = 1.0, subject: int | None = None) -> TimeDecodingResult:
    """Decode subject number from ``component`` of ``units`` across the words of ``items``.

    ``items`` must share one structure (one generated task, any conditions); the default row
    is the classifier trained at the subject, whose position comes from the items
    (:func:`subject_position`) or from ``subject`` (0-based word index). Items that disagree
    on it, or do not say and no ``subject`` is given, are refused: assuming "word 1" would
    train the paper's curve at the wrong word.
    """
    if not items:
        raise RnnscopeError("no items given")
    y = np.array([it.subject_number == "plural" for it in items], dtype=int)
    if any(it.subject_number is None for it in items):
        raise RnnscopeError("time decoding needs NA-task items (conditions S/P/SS/SP/PS/PP)")
    sentences = [list(it.prefix) + ([it.correct] if include_verb else []) for it in items]
    keys = sorted({key(n, component) for n, _ in units})
    states = sentence_states(model, vocab, sentences, keys)
    X = units_key_matrix(states, list(units), component)
    first = items[0]
    labels = list(first.labels) if len(first.labels) == len(first.prefix) else \
        [f"w{j}" for j in range(len(first.prefix))]
    labels += ["verb"] if include_verb else []
    if subject is None:
        found = {subject_position(it) for it in items}
        if None in found:
            raise RnnscopeError("these items do not say where their subject is (no 'subj' slot); "
                                "give the subject's 0-based word index (subject=, --subject-position)")
        if len(found) > 1:
            raise RnnscopeError(f"the items put their subject at different words {sorted(found)}; "
                                "decode one structure at a time")
        subject = found.pop()
    if not 0 <= subject < len(first.prefix):
        raise RnnscopeError(f"subject position {subject} is outside the prefix "
                            f"(0..{len(first.prefix) - 1})")
    return decode_across_time(X, y, labels, subject, cv=cv, seed=seed, C=C)
