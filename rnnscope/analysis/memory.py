"""Memory of a recurrent LM from averaged state gradients: normalisation, SVD metrics, fits.

Seed 003 (Verwimp et al.): average ``G[t, tau] = d s[t+tau] / d e[t]`` over positions (all, per
class, per word type), normalise it as ``G D`` with ``D`` the Cholesky factor of the covariance of
the mean-centred embedding matrix (eq. 6-10), and read its singular values per delay:
``sigma1`` (average memory), ``sigma1 / sum sigma`` and ``sum_{i<=5} sigma_i / sum sigma``
(selectiveness). On top: exponential fits ``sigma1 = a exp(-b tau)`` per word type and their
relation to frequency (Figs 8-9), difference vectors ``d = Z (e_a - e_b) / |e_a - e_b|`` with
relative memory ``m = |G d| / sigma1`` and the cosine with the top-n right singular vectors
(section 5), and comparisons of several models / states on one plot.

>>> res = memory(model, sequences, "layer1.c", max_delay=50)        # doctest: +SKIP
>>> res.table.query("group == 'all'")[["delay", "sigma1", "ratio1"]]  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rnnscope.analysis.gradients import ALL, embedding_matrix, state_gradient_sums  # noqa: E402
from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

BASES = ("normalised", "raw", "onehot")
FREQ_BINS = (0, 10, 100, 500, np.inf)


# -- normalisation ----------------------------------------------------------------------------
def embedding_cholesky(embeddings: np.ndarray, rows: Sequence[int] | None = None) -> np.ndarray:
    """``D`` (lower triangular) with ``D D^T = cov(e)``, the covariance (1/V) of the mean-centred rows.

    ``rows`` limits the vocabulary rows used (default: all). The normalised gradient is ``G D``
    and the map into the normalised embedding space is ``Z = D^{-1}`` (seed eq. 6-10).
    """
    W = np.asarray(embeddings, dtype=np.float64)
    if rows is not None:
        W = W[np.asarray(rows)]
    if W.ndim != 2 or W.shape[0] < 2:
        raise RnnscopeError("normalisation needs an embedding matrix with at least 2 rows")
    X = W - W.mean(0, keepdims=True)
    cov = X.T @ X / X.shape[0]
    ev = np.linalg.eigvalsh(cov)
    try:
        if ev[0] <= 1e-10 * max(ev[-1], 1e-300):
            raise np.linalg.LinAlgError
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise RnnscopeError(
            f"the embedding covariance is singular ({W.shape[0]} words, {W.shape[1]} dimensions, rank "
            f"{np.linalg.matrix_rank(X)}): cannot normalise; use --no-normalise or --wrt onehot") from None


def basis_matrix(model, basis: str, rows: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``R`` with ``G_basis = G R`` and ``Z`` mapping an embedding difference into that basis.

    normalised: ``R = D``, ``Z = D^{-1}``; raw: ``R = Z = I``; onehot: ``R = W^T`` ([E, V], the
    gradient w.r.t. the one-hot input), ``Z = None`` (difference vectors live in embedding space).
    """
    if basis not in BASES:
        raise RnnscopeError(f"unknown basis {basis!r}; choose {', '.join(BASES)}")
    W = embedding_matrix(model).detach().cpu().double().numpy()
    if basis == "normalised":
        D = embedding_cholesky(W, rows)
        return D, np.linalg.inv(D)
    if basis == "raw":
        eye = np.eye(W.shape[1])
        return eye, eye
    if W.shape[0] > 2000:
        raise RnnscopeError(f"the one-hot basis gives H x {W.shape[0]} matrices per delay; it is meant for "
                            "small vocabularies (like the synthetic data): use the normalised basis")
    return W.T.copy(), None


def spectrum_metrics(sv: np.ndarray) -> dict[str, np.ndarray]:
    """sigma1, sum sigma, sigma1/sum, top-5/sum along the last axis of singular values."""
    sv = np.asarray(sv, dtype=np.float64)
    total = sv.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"sigma1": sv[..., 0], "sigma_sum": total, "ratio1": sv[..., 0] / total,
                "ratio5": sv[..., :5].sum(-1) / total}


# -- results ----------------------------------------------------------------------------------
@dataclass
class MemoryResult(HtmlRepr):
    """Averaged (transformed) state-gradient matrices and their spectra, per group and delay.

    ``means[g]``: ``[T+1, H, K]`` mean matrices (kept for few groups); ``spectra[g]``:
    ``[T+1, min(H, K)]`` singular values (NaN where no position had that delay); ``counts[g]``:
    positions per delay. ``Z`` maps an embedding difference into the basis of the matrices.
    """

    _html_plot = "plot"

    state: str
    basis: str
    max_delay: int
    spectra: dict
    counts: dict
    means: dict = field(default_factory=dict)
    Z: np.ndarray | None = None
    label: str = ""
    frequencies: dict = field(default_factory=dict)

    def _html_caption(self) -> str:
        return f"{self.label or self.state} ({self.basis}), delays 0..{self.max_delay}"

    @property
    def groups(self) -> list:
        return list(self.spectra)

    def _check(self, group) -> None:
        if group not in self.spectra:
            shown = ", ".join(map(str, self.groups[:12])) + (" ..." if len(self.groups) > 12 else "")
            raise RnnscopeError(f"group {group!r} has no tokens in this result; groups: {shown}")

    @property
    def table(self) -> pd.DataFrame:
        """One row per (group, delay): count, sigma1, sigma_sum, ratio1, ratio5."""
        frames = []
        for g, sv in self.spectra.items():
            m = spectrum_metrics(sv)
            frames.append(pd.DataFrame({"label": self.label, "state": self.state, "basis": self.basis,
                                        "group": [g] * len(sv), "delay": np.arange(len(sv)),
                                        "count": self.counts[g], **m}))
        return pd.concat(frames, ignore_index=True)

    def singular_values(self, group=ALL, delay: int = 0) -> np.ndarray:
        self._check(group)
        return self.spectra[group][delay]

    def matrix(self, group=ALL, delay: int = 0) -> np.ndarray:
        """The mean ``[H, K]`` gradient matrix (in the result's basis) of ``group`` at ``delay``."""
        self._check(group)
        if group not in self.means:
            raise RnnscopeError(f"matrices of group {group!r} were not kept (too many groups); "
                                "rerun with keep_matrices=True for these groups")
        return self.means[group][delay]

    def svd(self, group=ALL, delay: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.linalg.svd(self.matrix(group, delay), full_matrices=False)

    def ranking(self, delay: int = 0, metric: str = "sigma1") -> pd.DataFrame:
        """Groups (except all) ordered by ``metric`` at ``delay`` (seed Fig 8a)."""
        t = self.table
        t = t[(t.delay == delay) & (t.group != ALL)]
        return t.sort_values(metric, ascending=False).reset_index(drop=True)

    def project(self, basis: np.ndarray, name: str = "") -> MemoryResult:
        """Matrices projected on state-space directions: ``basis^T G`` (``basis`` is ``[H, k]``)."""
        B = np.asarray(basis, dtype=np.float64)
        means = {g: np.einsum("hk,thj->tkj", B, m) for g, m in self.means.items()}
        spectra = {g: _spectra(m, self.counts[g]) for g, m in means.items()}
        return MemoryResult(self.state, self.basis, self.max_delay, spectra,
                            {g: self.counts[g] for g in means}, means, self.Z,
                            f"{self.label} {name}".strip(), self.frequencies)

    def property_memory(self, d: np.ndarray, group=ALL, n: Sequence[int] = (1, 5)) -> pd.DataFrame:
        """Relative memory ``m = |G d| / sigma1`` and ``cos(d, H_n) = |V_n^T d|`` per delay (eq. 16-20).

        ``d`` is a direction in the result's basis (see :func:`difference_vector`); it is scaled
        to unit length, so ``m <= 1`` and the cosines are cosines.
        """
        d = np.asarray(d, dtype=np.float64)
        if not np.linalg.norm(d) > 0:
            raise RnnscopeError("the difference vector is zero")
        d = d / np.linalg.norm(d)  # a direction: m and the cosines assume a unit vector
        rows = []
        for tau in range(self.max_delay + 1):
            if self.counts[group][tau] == 0:
                continue
            G = self.matrix(group, tau)
            if d.shape != (G.shape[1],):
                raise RnnscopeError(f"difference vector has {d.shape[0]} dims, matrices have {G.shape[1]}")
            _, S, Vt = np.linalg.svd(G, full_matrices=False)
            row = {"group": group, "delay": tau, "m": np.linalg.norm(G @ d) / S[0]}
            for k in n:
                row[f"cos{k}"] = np.linalg.norm(Vt[:k] @ d)
            rows.append(row)
        return pd.DataFrame(rows)

    def fit_decay(self, groups: Sequence | None = None, min_delays: int = 3) -> DecayFit:
        """Fit ``sigma1 = a exp(-b tau)`` per group with ``scipy.optimize.curve_fit`` (eq. 13)."""
        from scipy.optimize import curve_fit

        rows = []
        for g in (groups if groups is not None else [g for g in self.groups if g != ALL]):
            self._check(g)
            s1 = self.spectra[g][:, 0]
            tau = np.arange(len(s1))
            ok = np.isfinite(s1) & (self.counts[g] > 0)
            a = b = np.nan
            if ok.sum() >= min_delays and s1[ok][0] > 0:
                try:
                    (a, b), _ = curve_fit(_exp, tau[ok], s1[ok], p0=(s1[ok][0], 0.1), maxfev=5000)
                except (RuntimeError, ValueError):
                    pass
            rows.append({"group": g, "a": a, "b": b, "sigma1_0": s1[0], "count": int(self.counts[g][0]),
                         "frequency": self.frequencies.get(g, np.nan)})
        return DecayFit(pd.DataFrame(rows), self)

    # -- plots --------------------------------------------------------------------------------
    def plot(self, groups: Sequence | None = None, ax=None):
        """sigma1 (dotted, log, left axis) and sigma1/sum (solid, right axis) against delay."""
        curves = {f"{self.label or self.state} {g}".strip(): self.spectra[g]
                  for g in (groups if groups is not None else [ALL])}
        return _plot_curves(curves, ax)


def _exp(tau, a, b):
    return a * np.exp(-b * tau)


def _spectra(means: np.ndarray, counts: np.ndarray) -> np.ndarray:
    sv = np.linalg.svd(means, compute_uv=False)
    sv[np.asarray(counts) == 0] = np.nan
    return sv


def _plot_curves(curves: Mapping[str, np.ndarray], ax=None):
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    ax2 = ax.twinx()
    for k, (name, sv) in enumerate(curves.items()):
        m = spectrum_metrics(sv)
        col = f"C{k % 10}"
        tau = np.arange(len(sv))
        ax.plot(tau, m["sigma1"], ":", color=col, label=f"{name} σ1")
        ax2.plot(tau, m["ratio1"], "-", color=col, label=f"{name} σ1/Σσ")
    ax.set_yscale("log")
    ax.set_xlabel("delay τ")
    ax.set_ylabel("σ1 (dotted)")
    ax2.set_ylabel("σ1 / Σσ (solid)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="best")
    fig.tight_layout()
    return fig


@dataclass
class DecayFit(HtmlRepr):
    """Per-group exponential fits; ``relation`` relates b and sigma1 to frequency bins (Figs 8b, 9b)."""

    table: pd.DataFrame
    result: MemoryResult

    def relation(self, value: str = "b", bins: Sequence[float] | None = None,
                 freq_bins: Sequence[float] = FREQ_BINS) -> pd.DataFrame:
        """Share (%) of the words of each frequency bin (rows) falling in each bin of ``value``."""
        t = self.table.dropna(subset=[value, "frequency"])
        if t.empty:
            raise RnnscopeError("no fitted groups with a known frequency to relate")
        if bins is None:
            bins = np.unique(np.quantile(t[value], np.linspace(0, 1, 6)))
        fb = pd.cut(t["frequency"], list(freq_bins), right=False)
        vb = pd.cut(t[value], list(bins), include_lowest=True)
        return (pd.crosstab(fb, vb, normalize="index") * 100).round(1)

    def plot_relation(self, value: str = "b", **kw):
        tab = self.relation(value, **kw)
        ax = tab.T.plot(kind="bar", figsize=(7, 4))
        ax.set_xlabel(f"binned {value}")
        ax.set_ylabel("% of words in frequency bin")
        ax.figure.tight_layout()
        return ax.figure

    def plot(self, groups: Sequence):
        """σ1 against delay with its fitted curve for a few groups (seed Fig 9a)."""
        fig, ax = plt.subplots(figsize=(6, 4))
        for k, g in enumerate(groups):
            row = self.table.set_index("group").loc[g]
            s1 = self.result.spectra[g][:, 0]
            tau = np.arange(len(s1))
            ax.plot(tau, s1, "o", ms=3, color=f"C{k}", label=f"{g} (b={row.b:.2f})")
            ax.plot(tau, _exp(tau, row.a, row.b), "-", color=f"C{k}")
        ax.set_xlabel("delay τ")
        ax.set_ylabel("σ1")
        ax.legend()
        fig.tight_layout()
        return fig


# -- computing ------------------------------------------------------------------------------
def memory(model, sequences, state: str = "layer1.c", max_delay: int = 50,
           labels: Sequence[Sequence] | None = None, *, basis: str = "normalised",
           keep_matrices: bool | None = None, label: str = "", frequencies: Mapping | None = None,
           normalise_rows: Sequence[int] | None = None, gradient_sums: Callable | None = None,
           **kw) -> MemoryResult:
    """State-gradient memory of ``model`` on ``sequences``: all positions and per label group.

    ``basis``: ``normalised`` (G D, default), ``raw`` (G) or ``onehot`` (G W^T). Matrices are kept
    when ``keep_matrices`` (default: when there are at most 100 groups); otherwise only spectra.
    ``gradient_sums``: what computes the sums, with
    :func:`~rnnscope.analysis.gradients.state_gradient_sums`'s signature (the default; the
    Dask version is :func:`rnnscope.distributed.gradients.memory_distributed`). Other keyword
    arguments go to it.
    """
    R, Z = basis_matrix(model, basis, normalise_rows)
    if keep_matrices is None:
        n_groups = len({x for lab in labels for x in lab if x is not None}) if labels is not None else 0
        keep_matrices = n_groups <= 100

    def finalize(s: np.ndarray, c: np.ndarray):
        m = _mean(s, c) @ R
        return (m if keep_matrices else None), _spectra(m, c)

    compute = gradient_sums or state_gradient_sums
    sums = compute(model, sequences, state, max_delay, labels, finalize=finalize, **kw)
    all_mean = _mean(sums.all_sum, sums.all_count) @ R
    spectra = {ALL: _spectra(all_mean, sums.all_count)}
    means = {ALL: all_mean}
    counts = {ALL: sums.all_count}
    for g, (m, sv) in sums.groups.items():
        spectra[g] = sv
        counts[g] = sums.group_counts[g]
        if m is not None:
            means[g] = m
    return MemoryResult(state, basis, max_delay, spectra, counts, means, Z, label, dict(frequencies or {}))


def _mean(s: np.ndarray, c: np.ndarray) -> np.ndarray:
    return s / np.maximum(c, 1)[:, None, None]


# -- difference vectors ---------------------------------------------------------------------
def separability(embeddings: np.ndarray, ids_a: Sequence[int], ids_b: Sequence[int], folds: int = 5,
                 seed: int = 0) -> float:
    """Cross-validated accuracy of a logistic regression separating two sets of embedding rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    a, b = _nonempty(ids_a, "a"), _nonempty(ids_b, "b")
    W = np.asarray(embeddings, dtype=np.float64)
    X = np.concatenate([W[a], W[b]])
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    k = int(min(folds, len(a), len(b)))
    if k < 2:
        raise RnnscopeError("separability needs at least 2 words in each class")
    clf = LogisticRegression(max_iter=2000, class_weight="balanced")
    return float(cross_val_score(clf, X, y, cv=k).mean())


def difference_vector(embeddings: np.ndarray, ids_a: Sequence[int], ids_b: Sequence[int],
                      Z: np.ndarray | None = None) -> np.ndarray:
    """The unit vector along ``Z (mean e_a - mean e_b)`` (seed eq. 14); ``Z`` default I.

    The seed writes ``Z (e_a - e_b) / |e_a - e_b|``, normalising *before* ``Z``; then ``d`` is
    not a unit vector in the normalised space, and ``m = |G d| / sigma1`` and ``|V_n^T d|``
    (eq. 16-20) are no longer bounded by 1 (with small embeddings ``Z`` scales by ~10-20). We
    normalise after ``Z``, so ``m`` and the cosine mean what eq. 16-20 say they mean.
    """
    a, b = _nonempty(ids_a, "a"), _nonempty(ids_b, "b")
    W = np.asarray(embeddings, dtype=np.float64)
    diff = W[a].mean(0) - W[b].mean(0)
    d = diff if Z is None else Z @ diff
    norm = np.linalg.norm(d)
    if norm == 0:
        raise RnnscopeError("the two classes have the same mean embedding")
    return d / norm


def _nonempty(ids, name) -> np.ndarray:
    ids = np.asarray(list(ids), dtype=np.int64)
    if ids.size == 0:
        raise RnnscopeError(f"class {name} has no words (no tokens of it in the vocabulary/corpus)")
    return ids


def class_words(word_ids: Sequence[int], tags: Sequence, wanted: Sequence) -> np.ndarray:
    """Word ids whose majority tag (over their tokens) is in ``wanted``; clear error when none."""
    df = pd.DataFrame({"w": list(word_ids), "t": list(tags)}).dropna()
    if df.empty:
        raise RnnscopeError("no tagged tokens")
    major = df.groupby("w")["t"].agg(lambda s: s.value_counts().index[0])
    ids = major.index[major.isin(list(wanted))].to_numpy()
    if ids.size == 0:
        raise RnnscopeError(f"no words tagged {', '.join(map(str, wanted))} in the corpus")
    return ids


# -- comparisons ----------------------------------------------------------------------------
@dataclass
class MemoryComparison(HtmlRepr):
    """Several results (models, states) on one table and one plot (seed Figs 4-7)."""

    _html_plot = "plot"

    results: dict
    group: object = ALL

    @property
    def table(self) -> pd.DataFrame:
        frames = []
        for name, r in self.results.items():
            t = r.table
            t = t[t.group == self.group].copy()
            t.insert(0, "name", name)
            frames.append(t)
        return pd.concat(frames, ignore_index=True)

    def plot(self, ax=None):
        for r in self.results.values():
            r._check(self.group)
        return _plot_curves({n: r.spectra[self.group] for n, r in self.results.items()}, ax)


def compare_memory(results: Mapping[str, MemoryResult], group=ALL) -> MemoryComparison:
    """Put several :class:`MemoryResult` (trained vs random, LSTM/GRU/RNN, c vs h) side by side."""
    if not results:
        raise RnnscopeError("nothing to compare")
    return MemoryComparison(dict(results), group)
