"""Per-component decoding (seed 000 §4.1, §4.2): a softmax probe on every layer x component.

For one word feature (UPOS, XPOS, DEPREL, a FEATS key such as ``Case``, tree depth …) a
multinomial logistic regression is trained on the standardised activations of each component
(``h c i f o g`` of every layer). As in seed 000, words without the feature get the class
``N/A`` for training, and accuracy is computed only on words that have it. Every row of the
result also carries

* the majority-class baseline (most frequent class of the training words, scored on the test
  words), and
* a control task (Hewitt & Liang 2019): the same probe on labels re-assigned at random per word
  type; ``selectivity = accuracy - control_accuracy`` tells decoding from memorising words.
  By default (``control_na="keep"``) the control keeps the real N/A pattern (words without
  the feature stay N/A), so for a feature with N/A words selectivity measures only the
  within-feature part; ``control_na="shuffle"`` draws N/A per word type too.

Context offsets decode the feature of the word at ``w+k`` (k = -2..2) from the activations at
``w`` (seed 000 Fig. 9).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.choice(["A", "B"], 400); X = {"layer1.h": rng.normal(size=(400, 8))}
>>> X["layer1.h"][:, 3] += 3 * (y == "A")
>>> res = probe_arrays(X, y, words=rng.integers(0, 50, 400).astype(str))
>>> bool(res.table.loc[0, "accuracy"] > 0.9), list(res.table.columns[:3])
(True, ['key', 'layer', 'component'])
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.base import BaseEstimator, clone  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from rnnscope.analysis.labels import (CONTROL_NA, NA, check_class_counts,  # noqa: E402
                                      check_feature_present, check_finite_rows, control_labels,
                                      feature_labels, load_rows, merge_rare, nonfinite_message,
                                      select_keys, select_rows, split_mask)
from rnnscope.analysis.sparse_logreg import LinearProbe  # noqa: E402
from rnnscope.errors import RnnscopeError, StoreError  # noqa: E402
from rnnscope.figures.curves import component_accuracy  # noqa: E402
from rnnscope.keys import parse_key  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

COLUMNS = ["key", "layer", "component", "offset", "accuracy", "control_accuracy", "selectivity",
           "majority", "n_train", "n_test", "n_classes"]
#: Fewer labelled test tokens than this and the result carries a note that its accuracies are
#: unreliable (one test token gives "accuracy 1.000").
MIN_TEST_ROWS = 20


@dataclass
class ProbeResult(HtmlRepr):
    """Decoding accuracies, one row per (key, offset); ``feature`` names what was decoded.

    ``control_accuracy`` and ``selectivity`` come from the control task. With
    ``control_na == "keep"`` (the default) the control labels keep the real N/A pattern:
    words without the feature stay N/A, so the control probe learns which words have the
    feature from the real signal just as the real probe does, and for a feature with N/A words
    selectivity measures only the within-feature part (which value, among words that have
    one) — not whether the representation tells words with the feature from words without.
    With ``"shuffle"`` N/A is drawn per word type like any other control label (same N/A
    share), and the control is scored on the words its own labels give the feature, as the
    real probe is on the words that really have it; selectivity then covers both parts.
    ``notes``: one line each about what the numbers mean (the control's N/A handling, what
    ``min_count`` merged or left out), printed by the CLI under the table.
    """

    _html_plot = "plot"

    table: pd.DataFrame
    feature: str
    notes: list = field(default_factory=list)
    control_na: str = "keep"

    def _html_caption(self) -> str:
        return f"decoding {self.feature}"

    def _html_figure(self):
        return self.plot_offsets() if self.table["offset"].nunique() > 1 else self.plot()

    def pivot(self, value: str = "accuracy") -> pd.DataFrame:
        """Components as columns, layers (and offsets) as rows: seed 000's Fig. 7 numbers."""
        index = ["layer", "offset"] if self.table["offset"].nunique() > 1 else ["layer"]
        return self.table.pivot_table(index=index, columns="component", values=value, sort=False)

    def plot(self) -> plt.Figure:
        """Accuracy per component and layer at offset 0, majority baseline dashed (Fig. 7)."""
        t = self.table[self.table["offset"] == 0] if (self.table["offset"] == 0).any() else self.table
        return component_accuracy(t, title=f"decoding {self.feature}",
                                  baseline=float(t["majority"].iloc[0]))

    def plot_offsets(self) -> plt.Figure:
        """Accuracy against context offset w-2..w+2, one line per component (seed 000 Fig. 9)."""
        fig, ax = plt.subplots(figsize=(4.5, 3.2))
        for key, grp in self.table.groupby("key", sort=False):
            grp = grp.sort_values("offset")
            ax.plot(grp["offset"], grp["accuracy"], marker="o", label=key)
        ax.set_xlabel("offset of the decoded word (w+k)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{self.feature} of context words")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def _accuracy(probe, X: np.ndarray, y: np.ndarray, scored: np.ndarray) -> float:
    """Accuracy on the rows that have the feature (``scored``), as seed 000 computes it."""
    if not scored.any():
        return float("nan")
    return float(np.mean(probe.predict(X[scored]) == y[scored]))


def make_estimator(estimator: BaseEstimator | None, C: float,
                   device: str | None = None) -> BaseEstimator:
    """A fresh, unfitted classifier for one fit: ``clone(estimator)``, or the default softmax
    :class:`LinearProbe` with ``C``. Cloning leaves the caller's estimator untouched (never
    fitted), and every key and the control task get their own copy."""
    if estimator is None:
        return LinearProbe(C=C, penalty="l2", device=device)
    try:
        return clone(estimator)
    except (TypeError, RuntimeError) as exc:
        raise RnnscopeError(f"estimator must be a scikit-learn estimator (sklearn.base.clone "
                            f"could not copy {type(estimator).__name__}: {exc})") from None


def _fit_score(X: np.ndarray, labels: np.ndarray, is_test: np.ndarray, C: float,
               estimator: BaseEstimator | None = None, device: str | None = None) -> float:
    y = np.array([NA if v is None else v for v in labels], dtype=object).astype(str)
    probe = make_estimator(estimator, C, device).fit(X[~is_test], y[~is_test])
    scored = is_test & np.array([v is not None for v in labels])
    return _accuracy(probe, X[is_test], y[is_test], scored[is_test])


def probe_arrays(X: Mapping[str, np.ndarray], labels: Sequence, words: Sequence | None = None,
                 is_test: np.ndarray | None = None, C: float = 1.0, test_size: float = 0.1,
                 seed: int = 0, offset: int = 0, feature: str = "feature",
                 progress: bool = False, control_na: str = "keep",
                 estimator: BaseEstimator | None = None, device: str | None = None) -> ProbeResult:
    """Train and score a softmax probe for each array of ``X`` (key -> ``[rows, units]``).

    ``labels``: one per row, ``None`` for N/A. ``words``: the word type of each row's labelled
    word, for the control task (omit to skip it). ``is_test``: boolean mask of test rows
    (default: a seeded random ``test_size`` split). ``control_na``: ``"keep"`` the real N/A
    pattern in the control task, or ``"shuffle"`` it per word type too (see
    :class:`ProbeResult`). ``estimator``: any scikit-learn classifier
    (``LogisticRegression(C=0.5)``, a ``Pipeline`` ...) used instead of the default
    :class:`LinearProbe`; it is cloned for every fit (the object passed stays unfitted) and
    ``C`` is then unused.
    """
    make_estimator(estimator, C)  # a bad estimator fails before anything is fitted
    if control_na not in CONTROL_NA:
        raise RnnscopeError(f"control_na must be one of {', '.join(CONTROL_NA)}, "
                            f"got {control_na!r}")
    labels = np.asarray(labels, dtype=object)
    n = len(labels)
    if is_test is None:
        check_labels(labels, None, feature)
        is_test = split_mask(n, test_size, seed, stratify=labels)
    is_test = np.asarray(is_test, dtype=bool)
    check_labels(labels, is_test, feature)
    has = np.array([v is not None for v in labels])
    train_lab = labels[has & ~is_test].astype(str)
    classes, counts = np.unique(train_lab, return_counts=True)
    majority_class = classes[np.argmax(counts)]
    majority = float(np.mean(labels[has & is_test].astype(str) == majority_class))
    control = (control_labels(words, labels, seed=seed + 1, na=control_na)
               if words is not None else None)
    rows = []
    for key, arr in tqdm(X.items(), desc=f"probe {feature}", disable=not progress, leave=False):
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != n:
            raise RnnscopeError(f"{key} has shape {arr.shape} but there are {n} labels "
                                "(expected [rows, units])")
        finite = np.isfinite(arr).all(axis=1)
        if not finite.all():
            raise RnnscopeError(f"{key}: NaN or inf values in {int((~finite).sum())} of its {n} "
                                "rows; leave those rows out (--drop-nonfinite)")
        acc = _fit_score(arr, labels, is_test, C, estimator, device)
        ctrl = (_fit_score(arr, control, is_test, C, estimator, device) if control is not None
                else float("nan"))
        layer, comp = parse_key(key)
        rows.append([key, layer, comp, offset, acc, ctrl, acc - ctrl, majority,
                     int((~is_test).sum()), int((has & is_test).sum()), len(classes)])
    notes = [control_note(feature, control_na)] if control is not None and not has.all() else []
    n_test = int((has & is_test).sum())
    if n_test < MIN_TEST_ROWS:
        notes.append(small_test_note(n_test, feature, offset))
    return ProbeResult(pd.DataFrame(rows, columns=COLUMNS), feature, notes, control_na)


def small_test_note(n_test: int, feature: str, offset: int = 0) -> str:
    """The warning for a probe scored on fewer than :data:`MIN_TEST_ROWS` test tokens."""
    where = f" (offset {offset:+d})" if offset else ""
    return (f"warning: only {n_test} labelled {feature} test token{'s' if n_test != 1 else ''}"
            f"{where}, fewer than {MIN_TEST_ROWS}: accuracies from so few are unreliable; "
            "use a larger store or --test-size")


def control_note(feature: str, control_na: str = "keep") -> str:
    """The one line saying what selectivity measures for a feature with N/A words."""
    if control_na == "shuffle":
        return (f"control task: N/A is drawn per word type too (--control-na shuffle), so "
                f"selectivity also covers telling words with {feature} from words without it")
    return (f"control task keeps the real N/A pattern (words without {feature} stay N/A): "
            f"selectivity measures only decoding within words that have {feature}; "
            f"--control-na shuffle draws N/A per word type too")


def check_labels(labels: np.ndarray, is_test: np.ndarray | None, feature: str) -> None:
    """Every check a probe's labels must pass before anything is fitted (clear errors)."""
    check_feature_present(labels, feature)
    check_class_counts(labels, what=f"{feature} class")
    if is_test is None:
        return
    has = np.array([v is not None for v in labels])
    if not (has & is_test).any() or not (has & ~is_test).any():
        raise RnnscopeError(f"the split leaves no labelled {feature} tokens in train or test")


def probe(store, feature: str, components: Sequence[str] | None = None,
          layers: Sequence[int] | None = None, offsets: Sequence[int] = (0,),
          read: str = "word_end", test_store=None, control: bool = True, C: float = 1.0,
          test_size: float = 0.1, seed: int = 0, min_count: int = 1,
          progress: bool = True, control_na: str = "keep",
          drop_nonfinite: bool = False, estimator: BaseEstimator | None = None,
          device: str | None = None) -> ProbeResult:
    """Decode ``feature`` from every selected component of ``store`` (an ActivationStore).

    ``read="word_end"`` reads each word where the model has finished it (the last character
    for char/byte models); ``"every"`` reads every stored unit. With ``test_store`` (e.g. the
    corpus' test split extracted separately) the probe fits on ``store`` and scores on it;
    otherwise a seeded random ``test_size`` split is used. ``min_count`` merges rarer classes
    into ``OTHER`` (:func:`~rnnscope.analysis.labels.merge_rare`: if ``OTHER`` itself would
    have a single example, untrainable, its rows are left out, said in ``notes``).
    The labels of every offset are checked before any probe is fitted, so a bad offset fails
    at once. ``control_na``: see :class:`ProbeResult`.

    Rows holding NaN or inf are an error naming the key and how many rows (found when the key's
    rows are loaded); ``drop_nonfinite=True`` scans every selected array first and leaves those
    rows out of every key (so all keys are probed on the same rows), said in ``notes``.

    ``estimator``: a scikit-learn classifier replacing the default softmax probe (e.g.
    ``LogisticRegression(C=0.5)`` or ``make_pipeline(StandardScaler(), SVC())``), cloned with
    :func:`sklearn.base.clone` for each fit, so the object passed is never fitted; ``C`` is
    then unused. It is fitted on the raw activations (put a scaler in a ``Pipeline`` to
    standardise) with string labels, ``N/A`` included. ``device``: where the default probe's
    solver runs (``"cuda"`` on a GPU; default the CPU).
    """
    make_estimator(estimator, C)  # a bad estimator fails before any store is read
    if control_na not in CONTROL_NA:
        raise RnnscopeError(f"control_na must be one of {', '.join(CONTROL_NA)}, "
                            f"got {control_na!r}")
    keys = select_keys(store, components=components, layers=layers)
    if test_store is not None:
        select_keys(test_store, keys=keys)
        for k in keys:
            if test_store[k].shape[1] != store[k].shape[1]:
                raise RnnscopeError(f"the test store's {k} has {test_store[k].shape[1]} units but "
                                    f"the store's has {store[k].shape[1]}: they come from "
                                    "different models")
    stores = [s for s in (store, test_store) if s is not None]
    prepared, notes, excluded = [], [], [None] * len(stores)
    if drop_nonfinite:  # NaN/inf rows of any key are left out of every key and offset
        for i, s in enumerate(stores):
            excluded[i], note = check_finite_rows(s, keys, select_rows(s.tokens, read), True)
            notes += [note] if note else []
    for offset in offsets:  # labels and checks of every offset first: fail before fitting
        parts = [_store_rows(s, feature, offset, read, ex) for s, ex in zip(stores, excluded)]
        sizes = [len(p[0]) for p in parts]
        labels = np.concatenate([p[0] for p in parts])
        words = np.concatenate([p[1] for p in parts])
        rows = [p[2] for p in parts]
        if min_count > 1:
            labels, kept, note = merge_rare(labels, min_count, feature=feature)
            where = f" (offset {offset:+d})" if len(offsets) > 1 and note else ""
            notes += [note + where] if note else []
            cuts = np.cumsum([0, *sizes])
            rows = [r[kept[lo:hi]] for r, lo, hi in zip(rows, cuts[:-1], cuts[1:])]
            sizes = [len(r) for r in rows]
            labels, words = labels[kept], words[kept]
        try:
            check_labels(labels, None, feature)
            is_test = (np.concatenate([np.zeros(sizes[0], bool), np.ones(sizes[1], bool)])
                       if test_store is not None else
                       split_mask(len(labels), test_size, seed, labels))
            check_labels(labels, is_test, feature)
        except RnnscopeError as exc:
            if len(offsets) == 1:
                raise
            raise RnnscopeError(f"offset {offset:+d}: {exc}") from None
        prepared.append((offset, labels, words if control else None, is_test, rows))
    results = []
    for offset, labels, words, is_test, rows in prepared:
        X = _LazyArrays(keys, list(zip(stores, rows)))
        res = probe_arrays(X, labels, words=words, is_test=is_test, C=C, seed=seed,
                           offset=offset, feature=feature, progress=progress,
                           control_na=control_na, estimator=estimator, device=device)
        results.append(res.table)
        notes += [n for n in res.notes if n not in notes]
    return ProbeResult(pd.concat(results, ignore_index=True), feature, notes, control_na)


def _store_rows(store, feature: str, offset: int, read: str,
                exclude: np.ndarray | None = None):
    """Labels, word types and row indices of ``store`` for ``feature`` at ``offset``
    (rows of ``exclude``, a boolean mask, left out)."""
    tokens = store.tokens
    rows = select_rows(tokens, read)
    labels, valid = feature_labels(tokens, feature, offset)
    keep = rows & valid
    if exclude is not None:
        keep &= ~exclude
    word_col = tokens["word"] if "word" in tokens.columns else tokens["token"]
    target = tokens.assign(_w=word_col)
    # the control label belongs to the decoded word (w+offset), so take that word's type
    words, _ = feature_labels(target, "_w", offset)
    return labels[keep], words[keep].astype(str), np.flatnonzero(keep)


class _LazyArrays(Mapping):
    """key -> rows of one or two stores, loaded only when the probe reaches that key."""

    def __init__(self, keys: list[str], sources: list[tuple]):
        self._keys, self._sources = keys, sources

    def __getitem__(self, key: str) -> np.ndarray:
        parts = []
        for store, rows in self._sources:
            arr = load_rows(store, key, rows)
            bad = int((~np.isfinite(arr).all(axis=1)).sum()) if arr.size else 0
            if bad:  # (with --drop-nonfinite they were left out before)
                raise StoreError(nonfinite_message(getattr(store, "path", "the store"),
                                                   {key: bad}, bad, len(rows), drop=False))
            parts.append(arr)
        return np.concatenate(parts)

    def __iter__(self):
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
