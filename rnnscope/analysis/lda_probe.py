"""LDA probes on the states of a model trained on the synthetic dataset (seed 003, Table 1, Fig 3).

Linear Discriminant Analysis (one Gaussian per class, shared covariance) is trained on the
cell and hidden states to predict the token id, "new token" and the count within the cycle.
The LDA for counting on the cell state gives a discriminant basis (``solver="eigen"``: all H
eigenvectors of ``Sw^-1 Sb``, ordered by eigenvalue); its first ``k`` (5) directions are the
*counting subspace*, the remaining ``H - k`` its complement (the *ID subspace*). States
projected on each are probed again: counting should live in the small subspace, token id in
the complement. The same basis projects state-gradient matrices (Fig 3), see
:meth:`rnnscope.analysis.memory.MemoryResult.project`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from rnnscope.errors import RnnscopeError
from rnnscope.synthetic import EOS_LABEL, roles
from rnnscope.notebook import HtmlRepr

TARGETS = {"token_id": "Token ID", "new": "New token", "count": "Counting"}


def synthetic_states(model, vocab, lines: list[list[str]], layer: int = 1,
                     components=("c", "h")) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Run ``model`` over the synthetic ``lines`` as one stream (tokens + ``<eos>`` per line).

    Returns ``{component: [N, H] states}`` and the :func:`~rnnscope.synthetic.roles` table
    (one row per input, plus a ``token_id`` column).
    """
    r = roles(lines, eos=vocab.itos[vocab.eos_id])
    ids = torch.tensor(vocab.encode(list(r.token)))[None]
    with torch.no_grad():
        _, rec, _ = model.run_with_states(ids, components=list(components), compute_logits=False)
    states = {c: rec[f"layer{layer}.{c}"][0].cpu().double().numpy() for c in components}
    r["token_id"] = [t if n != EOS_LABEL else EOS_LABEL for t, n in zip(r.token, r.new)]
    return states, r


def fit_lda(X: np.ndarray, y: np.ndarray) -> LinearDiscriminantAnalysis:
    """LDA with the eigen solver (full discriminant basis); Ledoit-Wolf shrinkage if Sw is singular."""
    try:
        return LinearDiscriminantAnalysis(solver="eigen").fit(X, y)
    except (np.linalg.LinAlgError, ValueError):
        return LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto").fit(X, y)


@dataclass
class LdaProbeResult(HtmlRepr):
    """Test accuracies (%) per representation and target, and the counting basis."""

    _html_table = "pivot"

    table: pd.DataFrame  # representation, target, accuracy, chance
    counting_basis: np.ndarray  # [H, H] discriminant directions, counting first
    k: int
    explained: float  # share of the counting LDA's eigenvalues in the first k directions

    def _html_caption(self) -> str:
        return (f"test accuracy (%); the first {self.k} counting directions carry "
                f"{100 * self.explained:.1f}% of the LDA eigenvalues")

    @property
    def pivot(self) -> pd.DataFrame:
        """The seed's Table 1 layout: representations x targets."""
        p = self.table.pivot(index="representation", columns="target", values="accuracy")
        order = [r for r in self.table.representation.unique()]
        return p.loc[order, [TARGETS[t] for t in TARGETS if TARGETS[t] in p.columns]].round(1)


def lda_table(states: Mapping[str, np.ndarray], labels: pd.DataFrame, test_size: int = 10_000,
              k: int = 5, subspace_from: str = "c", names: Mapping[str, str] | None = None) -> LdaProbeResult:
    """Table 1: LDA accuracy for every representation and target; the last ``test_size`` rows test.

    ``labels`` needs columns ``token_id``, ``new``, ``count`` (see :func:`synthetic_states`).
    The counting subspace is found on ``states[subspace_from]``.
    """
    names = dict(names or {"c": "cell state", "h": "hidden state"})
    n = len(labels)
    if not 0 < test_size < n:
        raise RnnscopeError(f"test size {test_size} must be between 1 and the {n} positions - 1")
    tr, te = slice(0, n - test_size), slice(n - test_size, n)
    rows = []

    def probe(rep_name: str, X: np.ndarray) -> None:
        for tcol, tname in TARGETS.items():
            y = labels[tcol].to_numpy()
            mask = y != EOS_LABEL if tcol == "token_id" else np.ones(n, bool)
            Xtr, ytr = X[tr][mask[tr]], y[tr][mask[tr]]
            Xte, yte = X[te][mask[te]], y[te][mask[te]]
            acc = fit_lda(Xtr, ytr).score(Xte, yte) * 100
            chance = pd.Series(yte).value_counts(normalize=True).iloc[0] * 100
            rows.append({"representation": rep_name, "target": tname, "accuracy": acc, "chance": chance})

    for key, X in states.items():
        probe(names.get(key, key), X)
    if subspace_from not in states:
        raise RnnscopeError(f"no states {subspace_from!r} to find the counting subspace in")
    X = states[subspace_from]
    lda = fit_lda(X[tr], labels["count"].to_numpy()[tr])
    S = lda.scalings_
    ev = np.asarray(lda.explained_variance_ratio_)
    src = names.get(subspace_from, subspace_from)
    probe(f"{src} 'counting subspace'", X @ S[:, :k])
    probe(f"{src} 'ID subspace'", X @ S[:, k:])
    return LdaProbeResult(pd.DataFrame(rows), S, k, float(ev[:k].sum()))


def delay_decoding(states: np.ndarray, labels: pd.DataFrame, delays, test_fraction: float = 0.2
                   ) -> pd.DataFrame:
    """Accuracy (%) of LDA predicting the new token seen at ``t`` from the state at ``t + delay``.

    Only positions where a new random token is read (``new == "1"``) are used (seed Fig 3, right axis).
    """
    where = np.flatnonzero(labels["new"].to_numpy() == "1")
    y_all = labels["token"].to_numpy()
    rows = []
    for d in delays:
        pos = where[where + d < len(labels)]
        cut = int(len(pos) * (1 - test_fraction))
        if cut < 10 or len(pos) - cut < 10:
            continue
        X, y = states[pos + d], y_all[pos]
        acc = fit_lda(X[:cut], y[:cut]).score(X[cut:], y[cut:]) * 100
        rows.append({"delay": int(d), "accuracy": acc})
    return pd.DataFrame(rows)
