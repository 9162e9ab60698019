"""Agreement accuracy: does the model prefer the correct verb form after the prefix?

An item is correct when ``log P(correct | prefix) > log P(wrong | prefix)``, i.e. when
``logit(correct) > logit(wrong)`` at the last prefix position (ties count as wrong). Accuracy
is reported per task and condition. Items whose verb forms are not in the vocabulary are
listed in ``skipped`` and never scored; a condition left with no item shows ``n = 0`` and
``accuracy = NaN`` and is named in ``warnings``.

>>> from rnnscope.agreement import generate, score
>>> # result = score(model, vocab, generate(n=100)); print(result.table)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING


import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rnnscope.agreement.batched import AblationEngine, Encoded, encode_items  # noqa: E402
from rnnscope.agreement.tasks import INCONGRUENT, NAItem  # noqa: E402
from rnnscope.model import RecurrentLM  # noqa: E402
from rnnscope.vocab import Vocabulary  # noqa: E402
from rnnscope.notebook import HtmlRepr  # noqa: E402

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


def accuracy_table(encoded: Encoded, correct: np.ndarray) -> pd.DataFrame:
    """Accuracy per (task, condition) from a bool vector over ``encoded.items``.

    Every condition of the input appears, in input order, including emptied ones (n = 0).
    """
    keys = pd.DataFrame({"task": [it.task for it in encoded.items],
                         "condition": [it.condition for it in encoded.items],
                         "correct": np.asarray(correct, dtype=float)})
    stats = keys.groupby(["task", "condition"], sort=False)["correct"].agg(["size", "mean"])
    rows = []
    for task, cond in encoded.conditions:
        n, acc = stats.loc[(task, cond)] if (task, cond) in stats.index else (0, np.nan)
        rows.append({"task": task, "condition": cond, "n": int(n), "accuracy": float(acc),
                     "incongruent": cond in INCONGRUENT})
    return pd.DataFrame(rows)


def empty_condition_warnings(table: pd.DataFrame) -> list[str]:
    return [f"{r.task} {r.condition}: no item could be scored (see skipped)"
            for r in table.itertuples() if r.n == 0]


@dataclass
class AgreementResult(HtmlRepr):
    """Per-item scores (``items``), accuracy per task and condition (``table``), skipped items."""

    _html_plot = "plot"

    items: pd.DataFrame
    table: pd.DataFrame
    skipped: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    def plot(self) -> plt.Figure:
        """Bar chart of accuracy per task and condition, chance at 50 %."""
        import matplotlib.pyplot as plt
        t = self.table
        fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(t)), 3.5))
        colors = ["#d9534f" if inc else "#5b8ff9" for inc in t["incongruent"]]
        ax.bar(range(len(t)), 100 * t["accuracy"].fillna(0), color=colors)
        ax.set_xticks(range(len(t)), [f"{a} {b}" for a, b in zip(t["task"], t["condition"])],
                      rotation=60, ha="right", fontsize=8)
        ax.axhline(50, color="grey", ls="--", lw=1)
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title("number agreement (red: incongruent)")
        fig.tight_layout()
        return fig

    def by_verb(self) -> pd.DataFrame:
        """Accuracy per verb with singular / plural subjects (see :mod:`~rnnscope.agreement.lexical`)."""
        from rnnscope.agreement.lexical import by_verb

        return by_verb(self.items)

    def plural_wins(self) -> float:
        """Share (0-1) of the NA items in which the plural verb form won: 0.5 is no bias."""
        from rnnscope.agreement.lexical import plural_wins

        return plural_wins(self.items)


def score_encoded(engine: AblationEngine) -> AgreementResult:
    """Score the engine's items without ablation."""
    enc = engine.encoded
    diff = engine.diffs()
    correct = diff > 0
    items = pd.DataFrame({
        "task": [it.task for it in enc.items], "condition": [it.condition for it in enc.items],
        "item_id": [it.item_id for it in enc.items], "prefix": [" ".join(it.prefix) for it in enc.items],
        "correct_form": [it.correct for it in enc.items], "wrong_form": [it.wrong for it in enc.items],
        "logit_diff": diff, "is_correct": correct, "n_unk": enc.n_unk,
        "source": [it.source for it in enc.items],
    })
    table = accuracy_table(enc, correct)
    return AgreementResult(items, table, enc.skipped, empty_condition_warnings(table))


def score(model: RecurrentLM, vocab: Vocabulary, items: list[NAItem],
          max_rows: int = 1024) -> AgreementResult:
    """Agreement accuracy of ``model`` on ``items`` (only the two verb logits are computed)."""
    return score_encoded(AblationEngine(model, encode_items(items, vocab), max_rows=max_rows))
