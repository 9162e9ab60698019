"""Concept neurons (seed 002): which single units encode a tag?

For one component (seed 002 uses the cell state ``c``) and one tag per row:

1. one-vs-rest L1-regularised logistic regression per class on all units (sparse weights);
2. per class, the top-k units by absolute weight;
3. retrain a classifier per class on its top 1, 2, …, k units;
4. report accuracy, precision, recall per class (class vs NOT) for k = all, 1, 2, 3, the data
   counts, the number of non-zero weights and the top-3 units; and the multiclass accuracy and
   weighted precision/recall, predicting the argmax over the classes' L2-normalised scores
   ``(x·w_j + b_j) / ||w_j||``.

By default units are standardised before the L1 fit and the split is 90/10; seed 002's own
procedure is ``rank="raw", split="80/10/10"`` (raw cell states; train / dev / test, dev
choosing each classifier's C as Radford et al.'s code does), see :func:`concept_neurons`.

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


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.metrics import precision_recall_fscore_support  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from rnnscope.analysis.labels import (SPACE, check_class_counts, check_feature_present,  # noqa: E402
                                      feature_labels, group_ptb_tags, load_rows, merge_rare,
                                      nonfinite_message, parse_split, select_keys, select_rows,
                                      split_mask, split_parts)
from rnnscope.analysis.probe import make_estimator  # noqa: E402
from rnnscope.analysis.sparse_logreg import LinearProbe, fit_l1_raw  # noqa: E402
from rnnscope.errors import RnnscopeError, StoreError  # noqa: E402
from rnnscope.figures.curves import match_histogram  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

#: how units are ranked: L1 weights on standardised units (rnnscope) or on raw ones (seed 002)
RANKS = ("standardised", "raw")
#: the C grid a dev split chooses from: Radford et al.'s ``2**-8 .. 2**0`` (seed 002 follows them)
PAPER_CS = tuple(float(2.0 ** e) for e in range(-8, 1))


@dataclass
class ConceptResult(HtmlRepr):
    """Per-class and multiclass results of :func:`concept_neurons`.

    ``table``: tidy, one row per (class, k) with ``accuracy precision recall`` (binary, class
    vs NOT, on the test rows), ``n_class n_not`` (all rows), ``nonzero``, ``top_units`` and
    ``C`` (the inverse L1 strength used; with a dev split, the one dev chose for that row;
    NaN with a given estimator).
    ``summary``: one row per k with multiclass ``accuracy precision recall`` (weighted).
    ``weights``: ``[classes, units]`` L1 weights, on standardised units (``rank ==
    "standardised"``) or on the raw ones (``"raw"``, seed 002), or the ``coef_`` of a given
    estimator (``"estimator"``). ``split``: ``"90/10"``, ``"80/10/10"`` ... or ``"given"``
    (masks); ``n_split``: train, dev, test rows. ``notes``: what ``min_count`` merged or left
    out.
    """

    _html_table = "wide"

    table: pd.DataFrame
    summary: pd.DataFrame
    weights: pd.DataFrame
    key: str = ""
    feature: str = ""
    test_values: dict = field(default_factory=dict, repr=False)  # unit -> test activations
    test_labels: np.ndarray = field(default=None, repr=False)
    rank: str = "standardised"
    split: str = "90/10"
    n_split: tuple = (0, 0, 0)
    notes: list = field(default_factory=list)

    def _html_caption(self) -> str:
        what = " of ".join(x for x in (self.feature, self.key) if x)
        return f"concept neurons{' ' + what if what else ''} (units ranked: {self.rank}; " \
               f"split {self.split})"

    def _html_figure(self):
        """The L1 weights of the most frequent class (as the CLI's ``--plot``)."""
        if self.table.empty:
            return None
        return self.plot_weights(str(self.table.sort_values("n_class").iloc[-1]["class"]))

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


#: Fewer test rows than this and the result carries a note that its numbers are unreliable.
MIN_TEST_ROWS = 20


def check_k(k, n_units: int, key: str = "") -> None:
    """``k`` (retrain on the top 1..k units) must be a whole number in 1..units."""
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n_units:
        of = f" of {key}" if key else ""
        raise RnnscopeError(f"--k must be in 1..{n_units} (the number of units{of}), got {k!r}")


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


class _RawL1Probe(LinearProbe):
    """:class:`LinearProbe` (L1, one-vs-rest) on the raw, unstandardised units.

    Seed 002 (like Radford et al.'s released code) fits scikit-learn's L1 logistic regression on
    the cell states as they are, so both the penalty and the ranking by |weight| see raw units:
    a unit with a large spread needs a smaller weight for the same effect. ``mean_`` is 0 and
    ``scale_`` 1, so ``coef_`` is in raw units and ``decision_function`` applies to raw rows.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> _RawL1Probe:
        X = np.asarray(X, dtype=np.float32)
        if not np.isfinite(X).all():  # FISTA's line search never ends on NaN
            raise RnnscopeError(f"X holds {int((~np.isfinite(X)).any(axis=1).sum())} rows with "
                                "NaN or inf values")
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise RnnscopeError(f"need at least two classes to fit a probe, "
                                f"got {list(self.classes_)}")
        self.mean_ = np.zeros(X.shape[1], dtype=np.float32)
        self.scale_ = np.ones(X.shape[1], dtype=np.float32)
        k = len(self.classes_)
        fit = (fit_l1_raw(X, codes, 1, self.C, "binary", device=self.device) if k == 2
               else fit_l1_raw(X, codes, k, self.C, "ovr", device=self.device))
        self.coef_ = fit.weight.T.astype(np.float32)
        self.intercept_ = fit.bias.copy()
        self.n_iter_, self.converged_ = fit.n_iter, fit.converged
        return self


def _l1(C: float, rank: str, device: str | None = None) -> LinearProbe:
    """The one-vs-rest L1 probe of ``rank``: standardising (rnnscope) or raw (seed 002)."""
    return (_RawL1Probe if rank == "raw" else LinearProbe)(C=C, penalty="l1", multi="ovr",
                                                           device=device)


def _ovr_columns(probe: LinearProbe) -> tuple[np.ndarray, np.ndarray]:
    """``coef_ [classes, units]`` and ``intercept_``, one row per class even for two classes."""
    W, b = probe.coef_, probe.intercept_
    if len(probe.classes_) == 2:  # sklearn-style single column: expand to one column per class
        W, b = np.vstack([-W[0], W[0]]), np.array([-b[0], b[0]])
    return W, b


def _fit_binary(estimator: BaseEstimator, X: np.ndarray, truth: np.ndarray) -> BaseEstimator:
    """A clone of ``estimator`` fitted on class (True) vs NOT (False)."""
    return make_estimator(estimator, 1.0).fit(X, truth)


def _unit_weights(fitted: BaseEstimator, n_units: int) -> np.ndarray:
    """The per-unit weights ``[n_units]`` of a fitted binary classifier, from its ``coef_``
    (the last step's for a ``Pipeline``, the best estimator's for a ``GridSearchCV``); a clear
    error when it has none."""
    final = fitted
    while hasattr(final, "best_estimator_") or isinstance(final, Pipeline):
        final = final.best_estimator_ if hasattr(final, "best_estimator_") else final[-1]
    coef = getattr(final, "coef_", None)
    if coef is None:
        raise RnnscopeError(f"ranking concept neurons needs per-unit weights, but the fitted "
                            f"{type(final).__name__} has no coef_: use a linear classifier "
                            "(LogisticRegression, LinearSVC, ...) or a Pipeline ending in one")
    coef = np.atleast_2d(np.asarray(coef.toarray() if hasattr(coef, "toarray") else coef,
                                    dtype=float))
    if coef.shape[-1] != n_units:
        raise RnnscopeError(f"{type(final).__name__}.coef_ has {coef.shape[-1]} weights per "
                            f"class for {n_units} units: a Pipeline step changed the features "
                            "(only per-unit steps such as StandardScaler keep them)")
    # one row: "True vs False"; two rows (a softmax over the two classes): their difference
    return coef[0] if len(coef) == 1 else coef[-1] - coef[0]


def _true_scores(fitted: BaseEstimator, X: np.ndarray) -> np.ndarray:
    """Scores ``[rows]`` of a fitted binary classifier, positive where it predicts True."""
    if not hasattr(fitted, "decision_function"):
        raise RnnscopeError(f"{type(fitted).__name__} has no decision_function: concept "
                            "neurons need a linear classifier's scores")
    s = np.asarray(fitted.decision_function(X), dtype=float)
    return s if s.ndim == 1 else s[:, -1] - s[:, 0]


def _split_masks(y: np.ndarray, split: str | None, test_size: float, seed: int,
                 is_test: np.ndarray | None, is_dev: np.ndarray | None,
                 keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """``(is_dev, is_test, split name)`` for :func:`concept_neurons`."""
    if is_test is not None:
        is_test = np.asarray(is_test, dtype=bool)[keep]
        if is_dev is not None:
            return np.asarray(is_dev, dtype=bool)[keep] & ~is_test, is_test, "given"
        if split is not None and parse_split(split)[1] > 0:
            raise RnnscopeError(f"split {split!r} has a dev part: give is_dev with is_test")
        return np.zeros(len(y), dtype=bool), is_test, "given"
    if is_dev is not None:
        raise RnnscopeError("is_dev needs is_test too")
    if split is None:
        return (np.zeros(len(y), dtype=bool), split_mask(len(y), test_size, seed, stratify=y),
                f"{round(100 * (1 - test_size)):g}/{round(100 * test_size):g}")
    _, dev, test = parse_split(split)
    if dev == 0:
        return np.zeros(len(y), dtype=bool), split_mask(len(y), test, seed, stratify=y), split
    is_dev, is_test = split_parts(y, dev, test, seed)
    return is_dev, is_test, split


def _fit_on_dev(make, Xtr: np.ndarray, ytr: np.ndarray, Xdev: np.ndarray | None,
                ydev: np.ndarray | None, Cs: Sequence[float]) -> tuple[list, np.ndarray]:
    """Fit ``make(C)`` on train for every C; per class keep the C with the best dev accuracy.

    Returns the fitted probes (one per C) and, per class, the index of its chosen C: the first
    (smallest) C reaching the highest dev accuracy of that class's binary classifier, as
    Radford et al.'s ``train_with_reg_cv`` picks ``np.argmax`` over an increasing grid. Without
    dev rows there is one C and nothing to choose.
    """
    probes = [make(c).fit(Xtr, ytr) for c in Cs]
    classes = probes[0].classes_
    if Xdev is None or len(Cs) == 1:
        return probes, np.zeros(len(classes), dtype=int)
    acc = np.zeros((len(Cs), len(classes)))
    for i, pr in enumerate(probes):
        W, b = _ovr_columns(pr)
        s = ((Xdev - pr.mean_) / pr.scale_) @ W.T + b
        acc[i] = np.mean((s > 0) == (ydev[:, None] == classes[None, :]), axis=0)
    return probes, np.argmax(acc, axis=0)


def concept_neurons(X: np.ndarray, labels: Sequence, k: int = 3, C: float = 0.05,
                    is_test: np.ndarray | None = None, test_size: float = 0.1, seed: int = 0,
                    key: str = "", feature: str = "tag", rank: str = "standardised",
                    split: str | None = None, Cs: Sequence[float] | None = None,
                    is_dev: np.ndarray | None = None,
                    estimator: BaseEstimator | None = None,
                    device: str | None = None) -> ConceptResult:
    """Seed 002's concept-neuron analysis of ``X [rows, units]`` against ``labels`` (one per row).

    ``C`` is the inverse L1 strength (sklearn convention, per-sample loss summed). Rows whose
    label is ``None`` are dropped.

    ``rank``: ``"standardised"`` (the default, rnnscope's) fits the L1 classifiers on units
    scaled to unit variance, so |weight| compares units on one scale; ``"raw"`` (seed 002's)
    fits them on the raw cell states and ranks units by |weight| on those, the retrained top
    1..k classifiers too.

    ``split``: ``None`` (the default) is a stratified ``1 - test_size`` / ``test_size`` split
    (90/10); ``"90/10"`` the same; ``"80/10/10"`` is seed 002's train / dev / test split (any
    ``TRAIN/DEV/TEST`` percentages work; a given ``split`` overrides ``test_size``).

    Seed 002 does not say what its 10 % validation part is for; it says it follows Radford et
    al. (2017), whose released code (``train_with_reg_cv``) fits the L1 classifier on train
    for every C of ``2**-8, 2**-7, ..., 2**0``, keeps the C with the best validation accuracy
    (the first, i.e. strongest penalty, among ties) and scores that classifier on test. With a
    dev part this does the same for every classifier it trains: per class, the one-vs-rest
    classifier on all units and each retrained top-j classifier choose their own C by dev
    accuracy (class vs NOT) among ``Cs`` (default :data:`PAPER_CS`, Radford's grid; ``C`` is
    then unused — pass ``Cs=[C]`` to fix it); dev rows are never trained on nor scored. The
    chosen C is the ``C`` column of ``table``. ``is_test`` (and ``is_dev``) give the split as
    masks instead.

    ``estimator``: a scikit-learn classifier (``LogisticRegression(C=0.5, penalty="l1",
    solver="liblinear")``, a ``Pipeline`` ending in one ...) used for every one-vs-rest
    classifier instead of the built-in L1 probe: per class a ``clone`` is fitted on class vs
    NOT (all units, then each class's top 1..k units), on the rows as they are (put a
    ``StandardScaler`` in a ``Pipeline`` to rank standardised units). Units are ranked by
    ``|coef_|`` (of the last step for a ``Pipeline``), so an estimator without ``coef_`` after
    fit is an error; scores are its ``decision_function``. ``C``, ``Cs``, ``rank`` and a dev
    split do not apply (tune it yourself, e.g. a ``GridSearchCV`` as the estimator); the
    result's ``rank`` is ``"estimator"`` and its ``C`` column NaN.

    ``device``: where the built-in L1 solver runs (``"cuda"`` on a GPU; default the CPU).
    """
    if rank not in RANKS:
        raise RnnscopeError(f"rank must be one of {', '.join(RANKS)}, got {rank!r}")
    if estimator is not None:
        make_estimator(estimator, C)  # a bad estimator fails before anything is fitted
        if rank != "standardised" or Cs is not None:
            raise RnnscopeError("estimator= replaces the built-in L1 probe: rank= and Cs= do "
                                "not apply (rank units yourself, e.g. a Pipeline with a "
                                "StandardScaler)")
    X = np.asarray(X, dtype=np.float32)
    labels = np.asarray(labels, dtype=object)
    if X.ndim != 2 or X.shape[0] != len(labels):
        raise RnnscopeError(f"activations of shape {X.shape} but {len(labels)} labels "
                            "(expected [rows, units])")
    check_k(k, X.shape[1], key)
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        raise RnnscopeError(f"{key or 'X'}: NaN or inf values in {int((~finite).sum())} of its "
                            f"{len(X)} rows; leave those rows out (--drop-nonfinite)")
    check_feature_present(labels, feature)
    keep = np.array([v is not None for v in labels])
    X, y = X[keep], labels[keep].astype(str)
    with_dev = is_dev is not None or (is_test is None and split is not None
                                      and parse_split(split)[1] > 0)
    if with_dev:
        check_class_counts(y, what=f"{feature} class", minimum=3,
                           purpose="for a train/dev/test split")
    else:
        check_class_counts(y, what=f"{feature} class")
    if len(np.unique(y)) < 2:
        raise RnnscopeError(f"only one {feature} class ({y[0]!r}): nothing to tell apart")
    is_dev, is_test, split_name = _split_masks(y, split, test_size, seed, is_test, is_dev, keep)
    if estimator is not None and is_dev.any():
        raise RnnscopeError("a dev part chooses the built-in probe's C; with estimator= use a "
                            "train/test split (e.g. 90/10) and tune the estimator yourself "
                            "(e.g. pass a GridSearchCV)")
    if Cs is not None and not is_dev.any():
        raise RnnscopeError("Cs (C chosen on dev) needs a split with a dev part, e.g. 80/10/10")
    grid = sorted(float(c) for c in (Cs if Cs is not None else PAPER_CS)) if is_dev.any() \
        else [float(C)]
    if not grid or min(grid) <= 0:
        raise RnnscopeError(f"every C must be positive, got {grid}")
    train = ~is_test & ~is_dev
    Xtr, ytr, Xte, yte = X[train], y[train], X[is_test], y[is_test]
    Xdev, ydev = (X[is_dev], y[is_dev]) if is_dev.any() else (None, None)
    if estimator is None:
        fulls, chosen = _fit_on_dev(lambda c: _l1(c, rank, device), Xtr, ytr, Xdev, ydev, grid)
        classes = fulls[0].classes_
        cols = [_ovr_columns(f) for f in fulls]
        W = np.stack([cols[chosen[j]][0][j] for j in range(len(classes))])
        b = np.array([cols[chosen[j]][1][j] for j in range(len(classes))])
        S = ((Xte - fulls[0].mean_) / fulls[0].scale_) @ W.T + b  # [test, classes]
        C_used = [grid[j] for j in chosen]

        def retrain(units: list[int], cls: str) -> tuple[np.ndarray, float, float]:
            subs, pick = _fit_on_dev(lambda c: _l1(c, rank, device), Xtr[:, units], ytr == cls,
                                     None if Xdev is None else Xdev[:, units],
                                     None if ydev is None else ydev == cls, grid)
            sub = subs[pick[-1]]  # classes are (False, True): the True column
            return (sub.decision_function(Xte[:, units]), float(np.linalg.norm(sub.coef_)),
                    grid[pick[-1]])
    else:
        classes = np.unique(ytr)
        fits = [_fit_binary(estimator, Xtr, ytr == cls) for cls in classes]
        W = np.stack([_unit_weights(f, X.shape[1]) for f in fits])
        S = np.stack([_true_scores(f, Xte) for f in fits], axis=1)
        C_used = [np.nan] * len(classes)

        def retrain(units: list[int], cls: str) -> tuple[np.ndarray, float, float]:
            sub = _fit_binary(estimator, Xtr[:, units], ytr == cls)
            return (_true_scores(sub, Xte[:, units]),
                    float(np.linalg.norm(_unit_weights(sub, len(units)))), np.nan)
        rank = "estimator"
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
        s = S[:, c_idx]
        rows.append({**base, "k": "all", **dict(zip(("accuracy", "precision", "recall"),
                                                     _binary_metrics(s > 0, truth))),
                     "C": C_used[c_idx]})
        scores["all"][:, c_idx] = s / (np.linalg.norm(w) or 1.0)
        for j in range(1, k + 1):
            units = top[:j]
            if len(units) < j:  # fewer non-zero weights than j: reuse what there is
                units = [int(u) for u in order[:j]]
            sj, norm, c_j = retrain(units, cls)
            rows.append({**base, "k": str(j), **dict(zip(("accuracy", "precision", "recall"),
                                                          _binary_metrics(sj > 0, truth))),
                         "C": c_j})
            scores[str(j)][:, c_idx] = sj / (norm or 1.0)
    table = pd.DataFrame(rows)[["class", "k", "accuracy", "precision", "recall", "n_class",
                                "n_not", "nonzero", "top_units", "C"]]
    summary = pd.DataFrame([{"k": kk, **dict(zip(("accuracy", "precision", "recall"),
                                                _multiclass(sc, classes, yte)))}
                            for kk, sc in scores.items()])
    kept_units = sorted({u for t in tops.values() for u in t})
    notes = []
    if len(yte) < MIN_TEST_ROWS:
        notes.append(f"warning: only {len(yte)} {feature} test row{'s' if len(yte) != 1 else ''}, "
                     f"fewer than {MIN_TEST_ROWS}: accuracies from so few are unreliable; use a "
                     "larger store or --test-size")
    return ConceptResult(table=table, summary=summary,
                         weights=pd.DataFrame(W, index=classes), key=key, feature=feature,
                         test_values={u: Xte[:, u].copy() for u in kept_units}, test_labels=yte,
                         rank=rank, split=split_name,
                         n_split=(int(train.sum()), int(is_dev.sum()), int(is_test.sum())),
                         notes=notes)


def concept_labels(tokens: pd.DataFrame, feature: str = "xpos", read: str = "every",
                   group: bool = False, min_count: int = 1,
                   minimum: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Tag of every read row (``SPACE`` for separators when reading every unit) and the rows.

    ``min_count`` merges rarer tags into ``OTHER`` (:func:`~rnnscope.analysis.labels.merge_rare`:
    ``OTHER`` is kept when it has at least ``minimum`` rows, else left out).
    """
    labels, rows, _ = _concept_labels(tokens, feature, read, group, min_count, minimum)
    return labels, rows


def _concept_labels(tokens: pd.DataFrame, feature: str, read: str, group: bool,
                    min_count: int, minimum: int = 2) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`concept_labels` plus the notices of what ``min_count`` merged or left out."""
    rows = select_rows(tokens, read)
    labels, valid = feature_labels(tokens, feature, 0, space_label=SPACE if read == "every" else None)
    check_feature_present(np.where(tokens["word_index"].to_numpy() >= 0, labels, None), feature)
    keep = rows & valid
    labels = labels[keep]
    rows = np.flatnonzero(keep)
    if group:
        labels = group_ptb_tags(labels)
    notes = []
    if min_count > 1:
        labels, kept, note = merge_rare(labels, min_count, minimum=minimum, feature=feature)
        labels, rows = labels[kept], rows[kept]
        notes += [note] if note else []
    return labels, rows, notes


def concepts(store, feature: str = "xpos", key: str | None = None, read: str | None = None,
             group: bool = False, min_count: int = 1, k: int = 3, C: float = 0.05,
             test_size: float = 0.1, seed: int = 0, rank: str = "standardised",
             split: str | None = None, Cs: Sequence[float] | None = None,
             drop_nonfinite: bool = False,
             estimator: BaseEstimator | None = None, device: str | None = None) -> ConceptResult:
    """:func:`concept_neurons` on one component of ``store`` (default: the top layer's ``c``).

    ``read`` defaults to ``"every"`` for char/byte stores (one tag per character, separators
    ``SPACE``) and ``"word_end"`` for word stores. ``rank``, ``split`` and ``Cs`` as in
    :func:`concept_neurons` (seed 002 exactly: ``rank="raw", split="80/10/10"``).
    ``min_count`` merges rarer tags into ``OTHER``; if ``OTHER`` would still be too small to
    train (and, with a dev part, to tune) its rows are left out, said in ``res.notes``.
    Rows holding NaN or inf are an error naming the key and count; ``drop_nonfinite=True``
    leaves them out instead (said in ``res.notes``). ``k`` must be in 1..units.
    ``estimator``: a scikit-learn classifier for the one-vs-rest fits, as in
    :func:`concept_neurons`.
    """
    if key is None:
        cells = select_keys(store, components=["c"])
        key = cells[-1]
    select_keys(store, keys=[key])
    check_k(k, int(store[key].shape[1]), key)
    if read is None:
        read = "word_end" if store.meta.get("vocab_kind", "word") == "word" else "every"
    minimum = 3 if split is not None and parse_split(split)[1] > 0 else 2
    labels, rows, notes = _concept_labels(store.tokens, feature, read, group, min_count, minimum)
    X = load_rows(store, key, rows)
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        where = getattr(store, "path", "the store")
        msg = nonfinite_message(where, {key: int(bad.sum())}, int(bad.sum()), len(X),
                                drop_nonfinite)
        if not drop_nonfinite:
            raise StoreError(msg)
        X, labels = X[~bad], labels[~bad]
        notes = notes + [msg]
    res = concept_neurons(X, labels, k=k, C=C, test_size=test_size, seed=seed, key=key,
                          feature=feature, rank=rank, split=split, Cs=Cs, estimator=estimator,
                          device=device)
    res.notes = notes + res.notes
    return res
