"""Concept neurons (seed 002): which single units encode a tag?

For one component (seed 002 uses the cell state ``c``) and one tag per row:

1. one-vs-rest L1-regularised logistic regression per class on all units (sparse weights);
2. per class, the top-k units by absolute weight;
3. retrain a classifier per class on its top 1, 2, …, k units;
4. report accuracy, precision, recall per class (class vs NOT) for k = all, 1, 2, 3, the data
   counts, the number of non-zero weights and the top-3 units; and the multiclass accuracy and
   weighted precision/recall, predicting the argmax over the classes' L2-normalised scores
   ``(x·w_j + b_j) / ||w_j||``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.choice(["DT", "NN", "VB"], 3000); X = rng.normal(size=(3000, 20))
>>> X[:, 17] += 4 * (y == "DT")
>>> res = concept_neurons(X, y)
>>> int(res.top_units("DT")[0]), res.summary.loc[0, "k"]
(17, 'all')
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_fscore_support  # noqa: E402

from rnnscope.analysis.labels import (SPACE, check_class_counts, check_feature_present,  # noqa: E402
                                      feature_labels, group_ptb_tags, load_rows, rare_to_other,
                                      select_keys, select_rows, split_mask)
from rnnscope.analysis.sparse_logreg import LinearProbe  # noqa: E402
from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.figures.curves import match_histogram  # noqa: E402


@dataclass
class ConceptResult:
    """Per-class and multiclass results of :func:`concept_neurons`.

    ``table``: tidy, one row per (class, k) with ``accuracy precision recall`` (binary, class
    vs NOT, on the test rows), ``n_class n_not`` (all rows), ``nonzero`` and ``top_units``.
    ``summary``: one row per k with multiclass ``accuracy precision recall`` (weighted).
    ``weights``: ``[classes, units]`` L1 weights (standardised units).
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    weights: pd.DataFrame
    key: str = ""
    feature: str = ""
    test_values: dict = field(default_factory=dict, repr=False)  # unit -> test activations
    test_labels: np.ndarray = field(default=None, repr=False)

    def top_units(self, cls: str) -> list[int]:
        """Units of ``cls`` by decreasing absolute L1 weight (non-zero weights only)."""
        row = self.table[(self.table["class"] == cls) & (self.table["k"] == "all")]
        if row.empty:
            raise RnnscopeError(f"no class {cls!r}; classes: {', '.join(self.weights.index)}")
        return list(row.iloc[0]["top_units"])

    def wide(self) -> pd.DataFrame:
        """Seed 002's table: one row per class, ``acc|prec|recall`` for each k side by side."""
        t = self.table.copy()
        t["value"] = t.apply(lambda r: f"{r.accuracy:.3f} | {r.precision:.3f} | {r.recall:.3f}",
                             axis=1)
        wide = t.pivot(index="class", columns="k", values="value")
        ks = [k for k in ("all", "1", "2", "3", "4", "5") if k in wide.columns]
        first = t[t["k"] == "all"].set_index("class")
        data = first["n_class"].astype(str) + " / " + first["n_not"].astype(str)
        out = pd.DataFrame({"data (class / NOT)": data, "features used": first["nonzero"],
                            "top 3": first["top_units"].map(lambda u: ", ".join(map(str, u[:3])))})
        return out.join(wide[ks].add_prefix("k=")).loc[first.index]

    def plot_weights(self, cls: str) -> plt.Figure:
        """The L1 weights of ``cls`` over all units, the top 3 labelled (seed 002's figure)."""
        w = self.weights.loc[cls].to_numpy()
        fig, ax = plt.subplots(figsize=(6, 2.8))
        ax.bar(np.arange(len(w)), w, width=1.0)
        for u in self.top_units(cls)[:3]:
            ax.annotate(str(u), (u, w[u]), fontsize=8, ha="center",
                        va="bottom" if w[u] >= 0 else "top")
        ax.set_xlabel(f"unit of {self.key}")
        ax.set_ylabel("weight")
        ax.set_title(f"L1 logistic regression weights for {cls!r}")
        fig.tight_layout()
        return fig

    def plot_histogram(self, cls: str, unit: int | None = None, bins: int = 40) -> plt.Figure:
        """Test activations of ``unit`` (default: the top unit) for ``cls`` vs NOT."""
        unit = self.top_units(cls)[0] if unit is None else unit
        if unit not in self.test_values:
            raise RnnscopeError(f"unit {unit} is not among the kept top units")
        match = self.test_labels == cls
        return match_histogram(self.test_values[unit], match, bins=bins,
                               title=f"{self.key} unit {unit}: {cls!r} vs NOT",
                               labels=(cls, f"NOT {cls}"))


def _binary_metrics(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = float(np.sum(pred & truth))
    acc = float(np.mean(pred == truth))
    prec = tp / max(1.0, float(pred.sum()))
    rec = tp / max(1.0, float(truth.sum()))
    return acc, prec, rec


def _multiclass(scores: np.ndarray, classes: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    pred = classes[np.argmax(scores, axis=1)]
    p, r, _, _ = precision_recall_fscore_support(y, pred, average="weighted", zero_division=0)
    return float(np.mean(pred == y)), float(p), float(r)


def concept_neurons(X: np.ndarray, labels: Sequence, k: int = 3, C: float = 0.05,
                    is_test: np.ndarray | None = None, test_size: float = 0.1, seed: int = 0,
                    key: str = "", feature: str = "tag") -> ConceptResult:
    """Seed 002's concept-neuron analysis of ``X [rows, units]`` against ``labels`` (one per row).

    ``C`` is the inverse L1 strength (sklearn convention, per-sample loss summed). Rows whose
    label is ``None`` are dropped.
    """
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=object)
    if X.shape[0] != len(labels):
        raise RnnscopeError(f"{X.shape[0]} activation rows but {len(labels)} labels")
    check_feature_present(labels, feature)
    keep = np.array([v is not None for v in labels])
    X, y = X[keep], labels[keep].astype(str)
    check_class_counts(y, what=f"{feature} class")
    if len(np.unique(y)) < 2:
        raise RnnscopeError(f"only one {feature} class ({y[0]!r}): nothing to tell apart")
    is_test = (split_mask(len(y), test_size, seed, stratify=y) if is_test is None
               else np.asarray(is_test, dtype=bool)[keep])
    Xtr, ytr, Xte, yte = X[~is_test], y[~is_test], X[is_test], y[is_test]
    full = LinearProbe(C=C, penalty="l1", multi="ovr").fit(Xtr, ytr)
    classes = full.classes_
    if len(classes) == 2:  # sklearn-style single column: expand to one column per class
        full.coef_ = np.vstack([-full.coef_[0], full.coef_[0]])
        full.intercept_ = np.array([-full.intercept_[0], full.intercept_[0]])
    W, b = full.coef_, full.intercept_
    Xte_s = (Xte - full.mean_) / full.scale_
    rows, tops = [], {}
    scores = {"all": np.zeros((len(yte), len(classes)))}
    scores.update({str(j): np.zeros((len(yte), len(classes))) for j in range(1, k + 1)})
    for c_idx, cls in enumerate(classes):
        w = W[c_idx]
        order = np.argsort(-np.abs(w), kind="stable")
        top = [int(u) for u in order[: max(k, 3)] if w[u] != 0]
        tops[cls] = top
        truth = yte == cls
        n_class = int(np.sum(y == cls))
        base = {"class": cls, "n_class": n_class, "n_not": len(y) - n_class,
                "nonzero": int(np.sum(w != 0)), "top_units": top}
        s = Xte_s @ w + b[c_idx]
        rows.append({**base, "k": "all", **dict(zip(("accuracy", "precision", "recall"),
                                                     _binary_metrics(s > 0, truth)))})
        scores["all"][:, c_idx] = s / (np.linalg.norm(w) or 1.0)
        for j in range(1, k + 1):
            units = top[:j]
            if len(units) < j:  # fewer non-zero weights than j: reuse what there is
                units = [int(u) for u in order[:j]]
            sub = LinearProbe(C=C, penalty="l1", multi="ovr").fit(Xtr[:, units], ytr == cls)
            sj = sub.decision_function(Xte[:, units])
            rows.append({**base, "k": str(j), **dict(zip(("accuracy", "precision", "recall"),
                                                          _binary_metrics(sj > 0, truth)))})
            scores[str(j)][:, c_idx] = sj / (np.linalg.norm(sub.coef_) or 1.0)
    table = pd.DataFrame(rows)[["class", "k", "accuracy", "precision", "recall", "n_class",
                                "n_not", "nonzero", "top_units"]]
    summary = pd.DataFrame([{"k": kk, **dict(zip(("accuracy", "precision", "recall"),
                                                _multiclass(sc, classes, yte)))}
                            for kk, sc in scores.items()])
    kept_units = sorted({u for t in tops.values() for u in t})
    return ConceptResult(table=table, summary=summary,
                         weights=pd.DataFrame(W, index=classes), key=key, feature=feature,
                         test_values={u: Xte[:, u].copy() for u in kept_units}, test_labels=yte)


def concept_labels(tokens: pd.DataFrame, feature: str = "xpos", read: str = "every",
                   group: bool = False, min_count: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tag of every read row (``SPACE`` for separators when reading every unit) and the rows."""
    rows = select_rows(tokens, read)
    labels, valid = feature_labels(tokens, feature, 0, space_label=SPACE if read == "every" else None)
    check_feature_present(np.where(tokens["word_index"].to_numpy() >= 0, labels, None), feature)
    keep = rows & valid
    labels = labels[keep]
    if group:
        labels = group_ptb_tags(labels)
    if min_count > 1:
        labels = rare_to_other(labels, min_count)
    return labels, np.flatnonzero(keep)


def concepts(store, feature: str = "xpos", key: str | None = None, read: str | None = None,
             group: bool = False, min_count: int = 1, k: int = 3, C: float = 0.05,
             test_size: float = 0.1, seed: int = 0) -> ConceptResult:
    """:func:`concept_neurons` on one component of ``store`` (default: the top layer's ``c``).

    ``read`` defaults to ``"every"`` for char/byte stores (one tag per character, separators
    ``SPACE``) and ``"word_end"`` for word stores.
    """
    if key is None:
        cells = select_keys(store, components=["c"])
        key = cells[-1]
    select_keys(store, keys=[key])
    if read is None:
        read = "word_end" if store.meta.get("vocab_kind", "word") == "word" else "every"
    labels, rows = concept_labels(store.tokens, feature, read, group, min_count)
    X = load_rows(store, key, rows)
    return concept_neurons(X, labels, k=k, C=C, test_size=test_size, seed=seed, key=key,
                           feature=feature)
