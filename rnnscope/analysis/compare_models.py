"""Compare what different models encode (seed 000 §5): one probe table over several models.

Seed 000 decodes POS from a word LM, a char LM (read at the last character of each word) and a
task-specific sentiment classifier, all run over the same sentences, and finds that the LMs'
units carry POS while the classifier's barely do. :func:`compare_models` does exactly that for
any number of stores extracted from the same corpus: every store is read at its word ends, the
words must agree row for row, and the same seeded split is used for all, so the accuracies are
directly comparable.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rnnscope.analysis.labels import feature_labels, select_rows, split_mask  # noqa: E402
from rnnscope.analysis.probe import ProbeResult, probe, probe_arrays  # noqa: E402
from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402


@dataclass
class ComparisonResult(HtmlRepr):
    """``table``: the probe table of every model with a leading ``model`` column."""

    _html_plot = "plot"

    table: pd.DataFrame
    feature: str

    def _html_caption(self) -> str:
        return f"decoding {self.feature}"

    def pivot(self, value: str = "accuracy") -> pd.DataFrame:
        """Models as rows, ``layer.component`` keys as columns."""
        return self.table.pivot_table(index="model", columns="key", values=value, sort=False)

    def plot(self) -> plt.Figure:
        """Accuracy per component, one bar per model (top layer of each; seed 000 Fig. 11)."""
        t = self.table[self.table["layer"] == self.table.groupby("model")["layer"].transform("max")]
        pivot = t.pivot_table(index="component", columns="model", values="accuracy", sort=False)
        fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(pivot) + 2), 3.2))
        width = 0.8 / pivot.shape[1]
        x = np.arange(len(pivot))
        for k, model in enumerate(pivot.columns):
            ax.bar(x + (k - (pivot.shape[1] - 1) / 2) * width, pivot[model], width, label=model)
        ax.axhline(float(self.table["majority"].iloc[0]), ls="--", color="#555555", lw=1,
                   label="majority")
        ax.set_xticks(x, pivot.index)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"{self.feature} accuracy")
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig


def compare_arrays(X: Mapping[str, Mapping[str, np.ndarray]], labels: Sequence,
                   words: Sequence | None = None, is_test: np.ndarray | None = None,
                   feature: str = "feature", **kw) -> ComparisonResult:
    """:func:`~rnnscope.analysis.probe.probe_arrays` for each model on the same rows and split."""
    labels = np.asarray(labels, dtype=object)
    if is_test is None:
        is_test = split_mask(len(labels), kw.pop("test_size", 0.1), kw.get("seed", 0), labels)
    parts = [probe_arrays(arrays, labels, words=words, is_test=is_test, feature=feature, **kw)
             .table.assign(model=name) for name, arrays in X.items()]
    return _result(parts, feature)


def _result(parts: list[pd.DataFrame], feature: str) -> ComparisonResult:
    table = pd.concat(parts, ignore_index=True)
    return ComparisonResult(table[["model", *[c for c in table.columns if c != "model"]]], feature)


def _word_rows(store) -> pd.DataFrame:
    t = store.tokens
    return t.loc[select_rows(t, "word_end"), ["sentence", "word_index", "word"]] \
        .reset_index(drop=True)


def check_same_words(stores: Mapping[str, object]) -> None:
    """Raise unless every store holds the same words in the same order (at word ends)."""
    names = list(stores)
    ref = _word_rows(stores[names[0]])
    for name in names[1:]:
        other = _word_rows(stores[name])
        if len(other) != len(ref):
            raise RnnscopeError(f"stores {names[0]!r} and {name!r} hold different sentences "
                                f"({len(ref)} vs {len(other)} words): extract both from one corpus")
        diff = np.flatnonzero((other["word"].astype(str).to_numpy() != ref["word"].astype(str).to_numpy())
                              | (other["sentence"].to_numpy() != ref["sentence"].to_numpy()))
        if len(diff):
            r = ref.iloc[diff[0]]
            raise RnnscopeError(f"stores {names[0]!r} and {name!r} differ at sentence "
                                f"{r['sentence']} word {r['word_index']} ({r['word']!r} vs "
                                f"{other.iloc[diff[0]]['word']!r}): extract both from one corpus")


def compare_models(stores: Mapping[str, object], feature: str = "upos",
                   components: Sequence[str] | None = None, layers: Sequence[int] | None = None,
                   control: bool = True, C: float = 1.0, test_size: float = 0.1, seed: int = 0,
                   min_count: int = 1, progress: bool = True) -> ComparisonResult:
    """Probe ``feature`` in every store (name -> ActivationStore), all read at word ends."""
    if len(stores) < 1:
        raise RnnscopeError("give at least one store to compare")
    check_same_words(stores)
    for name, store in stores.items():  # fail early on a feature missing from any store
        labels, _ = feature_labels(store.tokens, feature)
        if not any(v is not None for v in labels):
            raise RnnscopeError(f"no token of store {name!r} has feature {feature!r}")
    parts = []
    for name, store in stores.items():
        res: ProbeResult = probe(store, feature, components=components, layers=layers,
                                 read="word_end", control=control, C=C, test_size=test_size,
                                 seed=seed, min_count=min_count, progress=progress)
        parts.append(res.table.assign(model=name))
    return _result(parts, feature)
