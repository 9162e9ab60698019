"""Syntax units: decode syntactic depth (open nodes per word) from unit activity (seed §4.3).

**Data set.** A small phrase-structure grammar generates sentences of varied but unambiguous
structure (determiners/numerals, adjective phrases, prepositional phrases, subject relatives,
auxiliaries and adverbs). The *number of open nodes* at a word follows Nelson et al. (2017)
as in the paper's example "Ten(1) really(2) ecstatic(3) cousins(3) of(4) four(5) teachers(6)
are(2) quickly(3) laughing(4)": reading bottom-up, constituents that ended before the word
are closed into one item, and the count is the number of items on the stack after pushing
the word, i.e. ``1 + sum over the word's ancestors of their children before the word's
branch``. Because depth grows with position, data points are sampled to cover all
(position, depth) combinations of a window uniformly (default positions 7-12, depths 3-8), which
removes the correlation between the two.

**The published file** (``filtered_sentences.txt``, ``1M_sentences.txt`` of Lakretz et al.) is
read by :func:`read_depth_file`: one sentence per line, four fields separated by `` | ``:
the sentence, its bracketed parse (``[_S [_NP the boy ] [_VP greets [_NP the guy ] ] ]``),
the open-node count of every word and the number of brackets between every word and the next
(open and closing, not counting the one-word brackets around each word). The last field may
end in ``\\n'`` (a Python ``repr`` written to the file), which is stripped. The file's own
open-node column is used, after checking it against the parse with :func:`open_nodes`;
one-word brackets (``[_D the ]``) add no open node, so the parse is read as it is.

**Regression.** Ridge regression of depth from the activity of all units, with word
frequency as a covariate, nested cross-validation: outer folds grouped by sentence give the
test-set R²; inside each training fold a grouped 5-fold CV picks the penalty (all penalties
from one SVD per inner fold). The weights
of a final fit on all points (standardised features) are z-scored across units; units with
``|z| > 3`` are the syntax-unit candidates.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING


import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from rnnscope.agreement.states import sentence_states  # noqa: E402
from rnnscope.errors import RnnscopeError  # noqa: E402
from rnnscope.keys import global_unit, key  # noqa: E402
from rnnscope.model import RecurrentLM  # noqa: E402
from rnnscope.vocab import Vocabulary  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

if TYPE_CHECKING:
    import matplotlib.pyplot as plt

Tree = tuple  # (label, [children: Tree | str])


def open_nodes(tree: Tree) -> list[int]:
    """Open-node count of every word of ``tree`` (see the module docstring)."""
    counts: list[int] = []

    def walk(node, before: int) -> None:
        _, children = node
        for k, child in enumerate(children):
            if isinstance(child, str):
                counts.append(before + k + 1)
            else:
                walk(child, before + k)

    walk(tree, 0)
    return counts


def tree_words(tree: Tree) -> list[str]:
    _, children = tree
    return [w for c in children for w in ([c] if isinstance(c, str) else tree_words(c))]


def load_depth_pools(path: str | Path | None = None) -> dict:
    """Word pools of the depth grammar (shipped JSON, or ``path`` with the same keys)."""
    if path is None:
        return json.loads(resources.files("rnnscope").joinpath("data/wordpools/depth.json").read_text())
    p = Path(path)
    if not p.is_file():
        raise RnnscopeError(f"word-pool file not found: {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RnnscopeError(f"{p}: not valid JSON ({exc.msg}, line {exc.lineno})") from None


class _Grammar:
    """Random trees; ``depth`` budgets limit recursion through PPs and relative clauses."""

    def __init__(self, pools: dict, rng: np.random.Generator):
        self.p, self.rng = pools, rng

    def pick(self, pool):
        return pool[int(self.rng.integers(len(pool)))]

    def np_(self, plural: bool, budget: int) -> Tree:
        p, r = self.p, self.rng
        kids: list = []
        if plural:
            if r.random() < 0.8:
                kids.append(self.pick(p["numbers"] + ["the"]))
        else:
            kids.append(self.pick(p["determiners"]))
        if r.random() < 0.4:
            adj = self.pick(p["adjectives"])
            kids.append(("AdjP", [self.pick(p["degree_adverbs"]), adj]) if r.random() < 0.5 else adj)
        kids.append(self.pick(p["nouns"])[int(plural)])
        if budget > 0 and r.random() < 0.45:
            kids.append(("PP", [self.pick(p["prepositions"]), self.np_(r.random() < 0.5, budget - 1)]))
        elif budget > 0 and r.random() < 0.3:
            kids.append(("RC", [self.pick(p["complementizers"]), self.vp(plural, budget - 1)]))
        if not plural and len(kids) == 1:
            kids.insert(0, "the")
        return ("NP", kids)

    def vp(self, plural: bool, budget: int) -> Tree:
        p, r = self.p, self.rng
        kind = r.integers(4)
        if kind == 0:
            kids = [self.pick(p["intransitive"])[int(plural)]]
            if r.random() < 0.5:
                kids.append(self.pick(p["adverbs"]))
        elif kind == 1:
            kids = [self.pick(p["transitive"])[int(plural)], self.np_(r.random() < 0.5, budget)]
        elif kind == 2:
            kids = [p["auxiliaries"][int(plural)]]
            if r.random() < 0.5:
                kids.append(self.pick(p["adverbs"]))
            kids.append(self.pick(p["intransitive"])[2])
        else:
            kids = [p["auxiliaries"][int(plural)], self.pick(p["transitive"])[2],
                    self.np_(r.random() < 0.5, budget)]
        return ("VP", kids)

    def sentence(self, budget: int) -> Tree:
        plural = bool(self.rng.random() < 0.5)
        return ("S", [self.np_(plural, budget), self.vp(plural, budget)])


@dataclass
class DepthDataset:
    """Sentences, open-node counts per word, and the sampled data points.

    ``points``: one row per sampled word: ``sentence`` (index), ``position`` (0-based word
    index), ``depth`` (open nodes).
    """

    sentences: list[list[str]]
    depths: list[list[int]]
    points: pd.DataFrame
    info: dict = field(default_factory=dict)
    brackets: list[list[int]] = field(default_factory=list)  # per word, from a depth file


def generate_depth_dataset(per_length: int = 300, lengths: tuple[int, int] = (2, 25),
                           positions: tuple[int, int] = (7, 12), depths: tuple[int, int] = (3, 8),
                           per_cell: int | None = None, seed: int = 0, pools: dict | None = None,
                           max_budget: int = 4) -> DepthDataset:
    """Generate ``per_length`` sentences of each length, then sample points uniformly over the
    (position, depth) grid (1-based positions, inclusive ranges); ``per_cell`` defaults to the
    smallest non-empty cell."""
    rng = np.random.default_rng(seed)
    grammar = _Grammar(pools or load_depth_pools(), rng)
    lo, hi = lengths
    buckets: dict[int, list] = {n: [] for n in range(lo, hi + 1)}
    seen = set()
    for _ in range(per_length * (hi - lo + 1) * 60):
        tree = grammar.sentence(int(rng.integers(max_budget + 1)))
        words = tree_words(tree)
        n = len(words)
        if n in buckets and len(buckets[n]) < per_length and tuple(words) not in seen:
            seen.add(tuple(words))
            buckets[n].append((words, open_nodes(tree)))
        if all(len(b) >= per_length for b in buckets.values()):
            break
    sentences, dep = [], []
    for n in range(lo, hi + 1):
        for words, d in buckets[n]:
            sentences.append(words)
            dep.append(d)
    points, info = sample_points(dep, positions, depths, per_cell, seed)
    info = {"sentences_per_length": {n: len(b) for n, b in buckets.items()}, **info}
    return DepthDataset(sentences, dep, points, info)


def sample_points(depths_per_sentence: Sequence[Sequence[int]],
                  positions: tuple[int, int] = (7, 12), depths: tuple[int, int] = (3, 8),
                  per_cell: int | None = None, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Data points covering the (position, depth) grid uniformly (seed §3, "Syntactic Depth").

    Every word whose 1-based position and open-node count fall in the inclusive windows is a
    candidate; each (position, depth) cell then gives ``per_cell`` points drawn at random
    without replacement (all of a cell that has fewer), by default as many as the smallest
    cell has, so every cell is equally filled and position says nothing about depth.
    Returns ``(points, info)``: ``sentence``, ``position`` (0-based), ``depth`` per point.
    """
    rows = [(s, j, int(d[j])) for s, d in enumerate(depths_per_sentence) for j in range(len(d))
            if positions[0] <= j + 1 <= positions[1] and depths[0] <= d[j] <= depths[1]]
    allp = pd.DataFrame(rows, columns=["sentence", "position", "depth"])
    if allp.empty:
        raise RnnscopeError("no word falls in the position/depth window; widen it")
    cells = allp.groupby(["position", "depth"])
    k = per_cell or int(cells.size().min())
    if per_cell is None:
        points = cells.sample(n=k, replace=False, random_state=seed)
    else:  # shuffle once, keep the first k of every cell (pandas 3 drops group keys in apply)
        points = allp.sample(frac=1.0, random_state=seed).groupby(["position", "depth"]).head(k)
    points = points.sort_values(["sentence", "position"]).reset_index(drop=True)
    return points, {"per_cell": k, "cells": int(cells.ngroups)}


def parse_brackets(text: str, where: str = "parse") -> Tree:
    """``"[_S [_NP the boy ] [_VP greets ] ]"`` -> ``("S", [("NP", ["the", "boy"]), ...])``."""
    stack: list[tuple[str, list]] = []
    root = None
    for tok in text.split():
        if tok.startswith("[") and len(tok) > 1:
            stack.append((tok[1:].lstrip("_"), []))
        elif tok == "]":
            if not stack:
                raise RnnscopeError(f"{where}: unbalanced parse (a ']' closes nothing)")
            node = stack.pop()
            if stack:
                stack[-1][1].append(node)
            elif root is None:
                root = node
            else:
                raise RnnscopeError(f"{where}: the parse has more than one top node")
        elif not stack:
            raise RnnscopeError(f"{where}: word {tok!r} outside the parse's brackets")
        else:
            stack[-1][1].append(tok)
    if stack or root is None:
        raise RnnscopeError(f"{where}: unbalanced parse ({len(stack)} bracket(s) left open)")
    return root


_REPR_TAIL = re.compile(r"(?:\\n)*['\"]?\s*$")


def _ints(field_: str, what: str, n: int, where: str) -> list[int]:
    try:
        values = [int(v) for v in field_.split()]
    except ValueError:
        raise RnnscopeError(f"{where}: the {what} field {field_!r} is not integers") from None
    if len(values) != n:
        raise RnnscopeError(f"{where}: {len(values)} {what} for {n} words")
    return values


def read_depth_file(path: str | Path, positions: tuple[int, int] = (7, 12),
                    depths: tuple[int, int] = (3, 8), per_cell: int | None = None,
                    per_length: int | None = None, seed: int = 0) -> DepthDataset:
    """The published syntactic-depth file (see the module docstring), ``.gz`` or not.

    Every line is checked (4 fields, parse words = sentence words ignoring case, the file's
    open-node counts = those of the parse); errors name ``file:line``. ``per_length`` keeps
    at most that many sentences of each length (drawn at random, as the paper's 300 per
    length of the 1M-sentence file); points are then drawn by :func:`sample_points`.
    """
    from rnnscope.agreement.formats import read_text

    sentences, dep, brackets, lines = [], [], [], 0
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        fields = line.split(" | ")
        if len(fields) != 4:
            raise RnnscopeError(f"{where}: expected 4 fields separated by ' | ' (sentence, parse, "
                                f"open nodes, brackets), got {len(fields)}")
        words = fields[0].split()
        tree = parse_brackets(fields[1], where)
        parsed = tree_words(tree)
        if [w.lower() for w in parsed] != [w.lower() for w in words]:
            k = next((i for i, (a, b) in enumerate(zip(parsed, words)) if a.lower() != b.lower()),
                     min(len(parsed), len(words)))
            raise RnnscopeError(f"{where}: the parse has {len(parsed)} words, the sentence "
                                f"{len(words)}; they differ at word {k + 1}")
        d = _ints(fields[2], "open-node counts", len(words), where)
        expected = open_nodes(tree)
        if d != expected:
            k = next(i for i, (a, b) in enumerate(zip(d, expected)) if a != b)
            raise RnnscopeError(f"{where}: open-node count {d[k]} at word {k + 1} ({words[k]!r}) "
                                f"disagrees with the parse, which gives {expected[k]}")
        brackets.append(_ints(_REPR_TAIL.sub("", fields[3]), "bracket counts", len(words), where))
        sentences.append(words)
        dep.append(d)
        lines += 1
    if not sentences:
        raise RnnscopeError(f"{path}: no sentence in the file")
    if per_length is not None:
        rng = np.random.default_rng(seed)
        keep = []
        for length in sorted({len(w) for w in sentences}):
            idx = [i for i, w in enumerate(sentences) if len(w) == length]
            keep += sorted(rng.permutation(idx)[:per_length].tolist())
        keep.sort()
        sentences, dep, brackets = ([x[i] for i in keep] for x in (sentences, dep, brackets))
    points, info = sample_points(dep, positions, depths, per_cell, seed)
    info = {"source": str(path), "sentences_read": lines, "sentences": len(sentences), **info}
    return DepthDataset(sentences, dep, points, info, brackets)


@dataclass
class SyntaxUnitsResult(HtmlRepr):
    """Nested-CV R² on test folds and the z-scored ridge weights per unit (``table``)."""

    _html_plot = "plot"

    r2: np.ndarray            # test R² per outer fold (units + covariate)
    r2_covariate: np.ndarray  # test R² per outer fold, covariate only
    table: pd.DataFrame       # layer, unit, global_unit, weight, z, outlier
    alphas: list[float]

    def _html_caption(self) -> str:
        return self.summary()

    @property
    def outliers(self) -> pd.DataFrame:
        return self.table[self.table["outlier"]].sort_values("z", key=np.abs, ascending=False)

    def summary(self) -> str:
        return (f"R2 test = {self.r2.mean():.3f} ± {self.r2.std():.3f} (covariate alone "
                f"{self.r2_covariate.mean():.3f}); {int(self.table['outlier'].sum())} units with "
                f"|z| > 3: {', '.join(str(u) for u in self.outliers['global_unit'])}")

    def plot(self) -> plt.Figure:
        """Ridge weights of all units; outliers in red."""
        import matplotlib.pyplot as plt
        t = self.table
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.plot(t["global_unit"], t["weight"], ".", ms=3, color="#888")
        o = t[t["outlier"]]
        ax.plot(o["global_unit"], o["weight"], "o", color="#d9534f", ms=4)
        for r in o.itertuples():
            ax.annotate(str(r.global_unit), (r.global_unit, r.weight), fontsize=7)
        ax.set_xlabel("unit (global number)")
        ax.set_ylabel("ridge weight")
        ax.set_title(f"depth decoding: R2 = {self.r2.mean():.2f}")
        fig.tight_layout()
        return fig


def _ridge_path(X: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    """Ridge coefficients ``[alphas, features]`` of centred data, all penalties from one SVD."""
    u, sv, vt = np.linalg.svd(X, full_matrices=False)
    uty = u.T @ y
    return (vt.T @ ((sv / (sv[None, :] ** 2 + alphas[:, None])) * uty).T).T


def _fit_ridge(X: np.ndarray, y: np.ndarray, alphas: np.ndarray, inner: int, groups: np.ndarray):
    """Standardise, choose the penalty by ``inner``-fold CV (grouped), refit; returns a predictor."""
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1.0
    Z = (X - mu) / sd
    errors = np.zeros(len(alphas))
    for tr, va in GroupKFold(inner).split(Z, y, groups):
        m = Z[tr].mean(0)
        coef = _ridge_path(Z[tr] - m, y[tr] - y[tr].mean(), alphas)
        pred = (Z[va] - m) @ coef.T + y[tr].mean()
        errors += ((pred - y[va, None]) ** 2).sum(0)
    alpha = float(alphas[int(np.argmin(errors))])
    coef = _ridge_path(Z - Z.mean(0), y - y.mean(), np.array([alpha]))[0]
    intercept = y.mean() - Z.mean(0) @ coef
    return (lambda Xn: ((Xn - mu) / sd) @ coef + intercept), coef, alpha


def fit_depth(X: np.ndarray, depth: np.ndarray, covariate: np.ndarray | None = None,
              groups: np.ndarray | None = None, units: Sequence[tuple[int, int]] | None = None,
              hidden: "int | Sequence[int] | None" = None, alphas: Sequence[float] = tuple(np.logspace(-2, 5, 15)),
              outer: int = 5, inner: int = 5, outlier_z: float = 3.0) -> SyntaxUnitsResult:
    """Nested-CV ridge regression of ``depth`` from ``X [points, units]`` (+ ``covariate``).

    Outer and inner folds are grouped (``groups``, e.g. the sentence of each point), features
    standardised on the training part; the inner CV picks the penalty among ``alphas``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(depth, dtype=np.float64)
    n = len(y)
    if X.ndim != 2 or len(X) != n:
        raise RnnscopeError(f"X must be [points, units] with one depth per point; got {X.shape}, {n}")
    cov = np.zeros((n, 0)) if covariate is None else np.asarray(covariate, dtype=np.float64).reshape(n, -1)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if len(np.unique(groups)) < outer * inner / (inner - 1) + 1:
        raise RnnscopeError(f"need at least {outer + 2} sentences for nested {outer}x{inner}-fold "
                            "cross-validation")
    full = np.hstack([X, cov])
    alphas = np.asarray(alphas, dtype=np.float64)
    r2, r2c, chosen = [], [], []
    for train, test in GroupKFold(outer).split(full, y, groups):
        predict, _, alpha = _fit_ridge(full[train], y[train], alphas, inner, groups[train])
        r2.append(r2_score(y[test], predict(full[test])))
        chosen.append(alpha)
        if cov.shape[1]:
            predict_c, _, _ = _fit_ridge(cov[train], y[train], alphas, inner, groups[train])
            r2c.append(r2_score(y[test], predict_c(cov[test])))
        else:
            r2c.append(0.0)
    _, coef, _ = _fit_ridge(full, y, alphas, inner, groups)
    w = coef[: X.shape[1]]
    z = (w - w.mean()) / w.std() if w.std() > 0 else np.zeros_like(w)
    units = list(units) if units is not None else [(1, j) for j in range(X.shape[1])]
    hidden = hidden or X.shape[1]
    table = pd.DataFrame({"layer": [u[0] for u in units], "unit": [u[1] for u in units],
                          "global_unit": [global_unit(a, b, hidden) for a, b in units],
                          "weight": w, "z": z, "outlier": np.abs(z) > outlier_z})
    return SyntaxUnitsResult(np.array(r2), np.array(r2c), table, chosen)


def depth_features(model: RecurrentLM, vocab: Vocabulary, dataset: DepthDataset,
                   component: str = "h") -> np.ndarray:
    """``[points, layers x H]``: ``component`` of every unit at each data point's word."""
    keys = [key(n, component) for n in range(1, model.config.num_layers + 1)]
    pts = dataset.points
    # only sentences with points, cut after their last point (later words cannot matter)
    last = pts.groupby("sentence")["position"].max()
    row = {s: i for i, s in enumerate(last.index)}
    states = sentence_states(model, vocab, [dataset.sentences[s][: p + 1] for s, p in last.items()], keys)
    return np.hstack([np.stack([states[k][row[s]][p] for s, p in zip(pts["sentence"], pts["position"])])
                      for k in keys])


def syntax_units(model: RecurrentLM, vocab: Vocabulary, dataset: DepthDataset,
                 component: str = "h", frequency: Mapping[str, float] | None = None,
                 **kwargs) -> SyntaxUnitsResult:
    """Run ``model`` on the data set and fit :func:`fit_depth` on all units of all layers.

    The covariate is the log frequency of each word (``frequency``: word -> count); without
    it, ``-log(1 + id)`` stands in (vocabularies built by rnnscope are sorted by frequency).
    """
    L = model.config.num_layers
    sizes = model.config.widths(component)
    pts = dataset.points
    X = depth_features(model, vocab, dataset, component)
    words = [dataset.sentences[s][p] for s, p in zip(pts["sentence"], pts["position"])]
    if frequency is not None:
        cov = np.log1p([float(frequency.get(w, 0.0)) for w in words])
    else:
        cov = -np.log1p([vocab.stoi.get(w, len(vocab)) for w in words])
    units = [(n, u) for n in range(1, L + 1) for u in range(sizes[n - 1])]
    return fit_depth(X, pts["depth"].to_numpy(), cov, pts["sentence"].to_numpy(), units, sizes, **kwargs)
