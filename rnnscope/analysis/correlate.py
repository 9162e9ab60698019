"""Correlations of single units with sequential and lexical features (seed 000 §3.1, §4.3).

Two analyses:

* :func:`correlate_arrays` — Pearson and Spearman correlation of every unit of every
  component with numeric features such as the word's position in the sentence, the sentence
  length, the tree depth and the log word frequency (seed 000 Fig. 3). Vectorised: one
  standardised matrix product per component (Spearman = Pearson of ranks). Rows where a feature
  is missing are left out for that feature.
* :func:`depth_tracking` — per sentence, the Pearson correlation between the *mean activation*
  of a component (averaged over its units) and the sequence of tree depths, averaged over
  sentences (seed 000 Table 2).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> pos = np.tile(np.arange(10.0), 30); X = rng.normal(size=(300, 5)); X[:, 2] += pos
>>> res = correlate_arrays({"layer1.c": X}, {"position": pos})
>>> int(res.top("position", n=1)["unit"].iloc[0])
2
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import rankdata  # noqa: E402

from rnnscope.analysis.labels import load_rows, select_keys, select_rows  # noqa: E402
from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.keys import parse_key  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

FEATURES = ("position", "length", "depth", "log_frequency")


@dataclass
class CorrelationResult(HtmlRepr):
    """``table``: one row per (key, unit, feature) with ``pearson``, ``spearman``, ``n``.
    ``depth``: one row per key with the sentence-averaged depth correlation (may be empty)."""

    _html_table = "top"

    table: pd.DataFrame
    depth: pd.DataFrame
    skipped: list = field(default_factory=list)  # requested features the store could not give

    def _html_caption(self) -> str:
        return "the units with the largest |r| per feature"

    def _html_figure(self):
        return self.plot(self.table["feature"].iloc[0]) if len(self.table) else None

    def top(self, feature: str | None = None, n: int = 10, by: str = "pearson") -> pd.DataFrame:
        """The ``n`` units with the largest absolute correlation (per feature if none given)."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise RnnscopeError(f"the number of top units must be at least 1, got {n!r}")
        t = self.table if feature is None else self.table[self.table["feature"] == feature]
        if t.empty:
            raise RnnscopeError(f"no correlations for feature {feature!r}; have "
                                f"{', '.join(self.table['feature'].unique())}")
        t = t.assign(_abs=t[by].abs()).sort_values("_abs", ascending=False)
        return t.groupby("feature", sort=False).head(n).drop(columns="_abs").reset_index(drop=True)

    def summary(self) -> pd.DataFrame:
        """Per key and feature: the largest |pearson| and |spearman| of any unit."""
        t = self.table.assign(abs_pearson=self.table["pearson"].abs(),
                              abs_spearman=self.table["spearman"].abs())
        return t.groupby(["key", "feature"], sort=False)[["abs_pearson", "abs_spearman"]].max() \
            .reset_index()

    def plot(self, feature: str, by: str = "pearson") -> plt.Figure:
        """Distribution of the units' correlations with ``feature``, one box per key (Fig. 3)."""
        t = self.table[self.table["feature"] == feature]
        keys = list(dict.fromkeys(t["key"]))
        fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(keys) + 2), 3.2))
        ax.boxplot([t.loc[t["key"] == k, by].dropna().to_numpy() for k in keys])
        ax.set_xticks(np.arange(1, len(keys) + 1), keys, rotation=45, ha="right")
        ax.axhline(0, color="#999999", lw=0.6)
        ax.set_ylabel(f"{by} r with {feature}")
        fig.tight_layout()
        return fig

    def plot_depth(self) -> plt.Figure:
        """Sentence-averaged correlation of each component's mean activation with depth."""
        if self.depth.empty:
            raise RnnscopeError("no depth correlations (the store has no depth column)")
        fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(self.depth) + 2), 3))
        ax.bar(self.depth["key"], self.depth["mean_r"])
        ax.axhline(0, color="#999999", lw=0.6)
        ax.set_ylabel("mean per-sentence r with depth")
        ax.tick_params(axis="x", rotation=45)
        fig.tight_layout()
        return fig

    @classmethod
    def concat(cls, parts: Sequence[CorrelationResult]) -> CorrelationResult:
        return cls(pd.concat([p.table for p in parts], ignore_index=True),
                   pd.concat([p.depth for p in parts], ignore_index=True))


def _standardise(a: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    sd = np.sqrt((a * a).mean(0))
    sd[sd == 0] = np.inf  # a constant column correlates 0 (not NaN) with everything
    return a / sd


def _corr_columns(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Pearson r of every column of ``X`` with ``v`` (both complete)."""
    return _standardise(X).T @ _standardise(v[:, None])[:, 0] / len(v)


def correlate_arrays(X: Mapping[str, np.ndarray], features: Mapping[str, Sequence[float]],
                     sentences: Sequence[int] | None = None, depth: Sequence[float] | None = None,
                     min_tokens: int = 3) -> CorrelationResult:
    """Correlate every unit of each array with each feature (NaN = missing).

    With ``sentences`` and ``depth`` also computes :func:`depth_tracking`.
    """
    feats = {name: np.asarray(v, dtype=np.float64) for name, v in features.items()}
    rows, depth_rows = [], []
    for key, arr in X.items():
        arr = np.asarray(arr, dtype=np.float64)
        layer, comp = parse_key(key)
        finite = np.isfinite(arr).all(axis=1) if arr.ndim == 2 else np.zeros(len(arr), bool)
        if not finite.all():
            raise RnnscopeError(f"{key}: NaN or inf values in {int((~finite).sum())} of its "
                                f"{len(arr)} rows: correlations with them are undefined")
        for name, v in feats.items():
            if len(v) != len(arr):
                raise RnnscopeError(f"feature {name} has {len(v)} values but {key} has {len(arr)} rows")
            ok = np.isfinite(v)
            if ok.sum() < min_tokens or np.ptp(v[ok]) == 0:
                raise RnnscopeError(f"feature {name!r} is missing or constant on every token")
            a, f = arr[ok], v[ok]
            pear = _corr_columns(a, f)
            spear = _corr_columns(rankdata(a, axis=0), rankdata(f))
            rows.append(pd.DataFrame({"key": key, "layer": layer, "component": comp,
                                      "unit": np.arange(arr.shape[1]), "feature": name,
                                      "pearson": pear, "spearman": spear, "n": int(ok.sum())}))
        if sentences is not None and depth is not None:
            depth_rows.append(depth_tracking(arr, depth, sentences, key, min_tokens))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["key", "layer", "component", "unit", "feature", "pearson", "spearman", "n"])
    return CorrelationResult(table, pd.DataFrame(depth_rows))


def depth_tracking(X: np.ndarray, depth: Sequence[float], sentences: Sequence[int], key: str = "",
                   min_tokens: int = 3) -> dict:
    """Mean over sentences of Pearson(mean activation of the units, depth) within a sentence.

    Sentences with fewer than ``min_tokens`` tokens with a depth, or a constant depth, are
    skipped (their correlation is undefined).
    """
    frame = pd.DataFrame({"s": np.asarray(sentences), "d": np.asarray(depth, dtype=float),
                          "m": np.asarray(X, dtype=np.float64).mean(1)}).dropna()
    g = frame.groupby("s")
    n = g["d"].transform("size")
    dm = frame["d"] - g["d"].transform("mean")
    mm = frame["m"] - g["m"].transform("mean")
    cov = (dm * mm).groupby(frame["s"]).sum()
    sd = np.sqrt((dm * dm).groupby(frame["s"]).sum() * (mm * mm).groupby(frame["s"]).sum())
    size = n.groupby(frame["s"]).first()
    ok = (sd > 0) & (size >= min_tokens)
    r = cov[ok] / sd[ok]
    layer, comp = parse_key(key) if key else (None, None)
    return {"key": key, "layer": layer, "component": comp,
            "mean_r": float(r.mean()) if len(r) else float("nan"), "n_sentences": int(len(r))}


def correlate(store, features: Sequence[str] = FEATURES, components: Sequence[str] | None = None,
              layers: Sequence[int] | None = None, read: str = "word_end") -> CorrelationResult:
    """:func:`correlate_arrays` over a store, one component at a time (bounded memory).

    ``position`` is the word's index in its sentence when reading word ends and the unit's
    index when reading every unit; other features are token-table columns. Features the store
    lacks (or that are constant) are listed in ``result.skipped``; none left is an error.
    """
    tokens = store.tokens
    rows = np.flatnonzero(select_rows(tokens, read))
    values = {}
    for name in features:
        if name == "position":
            col = "word_index" if read == "word_end" else "position"
            values[name] = tokens[col].to_numpy(dtype=float)[rows]
        elif name in tokens.columns:
            values[name] = pd.to_numeric(tokens[name], errors="coerce").to_numpy(dtype=float)[rows]
    missing = [f for f in features if f not in values]
    if not values:
        raise RnnscopeError(f"the store has none of the features {', '.join(features)}")
    usable = {k: v for k, v in values.items() if np.isfinite(v).sum() >= 3 and np.nanstd(v) > 0}
    if not usable:
        raise RnnscopeError(f"no token has a usable value of {', '.join(values)}")
    sentences = tokens["sentence"].to_numpy()[rows]
    depth = usable.get("depth")
    parts = []
    for key in select_keys(store, components=components, layers=layers):
        arr = load_rows(store, key, rows)
        bad = int((~np.isfinite(arr).all(axis=1)).sum()) if arr.size else 0
        if bad:
            raise RnnscopeError(f"{getattr(store, 'path', 'the store')}: {key} holds NaN or inf "
                                f"values in {bad} of the {len(rows)} rows read: correlations "
                                "with them are undefined")
        parts.append(correlate_arrays({key: arr}, usable,
                                      sentences=sentences if depth is not None else None,
                                      depth=depth))
    result = CorrelationResult.concat(parts)
    result.skipped = missing + [k for k in values if k not in usable]
    return result
