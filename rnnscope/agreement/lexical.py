"""Agreement per verb: is a model's preference for one verb number lexical?

An NA accuracy of 70 % with singular subjects and 95 % with plural ones says the model
prefers the plural form, but not why. Broken down by verb it often turns out to be a few
verbs: those whose plural (base) form is far more frequent in the training text, or also a
noun or preposition ("like", "love", "watch"), lose most of their singular-subject items while
the others are near ceiling. This module makes that table from scored items.

``plural_wins`` is the share of a verb's items in which the plural form scored higher
(whatever the subject): 50 % is no bias, 100 % means the plural form wins every time, so
singular-subject items all fail. Only items whose condition starts with the subject's
number (``S``/``P``, ``SS``/``SP``/``PS``/``PP``: the NA tasks) can be told apart; others are
left out and counted.

>>> # res = score(model, vocab, generate(n=300)); print(by_verb(res.items))
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


def subject_number(conditions: pd.Series) -> pd.Series:
    """``"S"``/``"P"`` from an NA condition's first letter; missing (NaN) for other labels."""
    labels = conditions.astype(str)
    return labels.str[:1].where(labels.str.fullmatch("[SP]{1,2}"))


def _by_subject(items: pd.DataFrame) -> pd.DataFrame:
    """The items whose condition gives the subject's number, as ``singular`` / ``plural`` verb
    form, ``subject`` (S/P), ``correct`` and ``plural_won`` (the plural form scored higher)."""
    num = subject_number(items["condition"])
    keep = num.notna()
    part = items[keep]
    sing_subject = (num[keep] == "S").to_numpy()
    correct = part["is_correct"].astype(bool).to_numpy()
    return pd.DataFrame({
        "singular": np.where(sing_subject, part["correct_form"], part["wrong_form"]),
        "plural": np.where(sing_subject, part["wrong_form"], part["correct_form"]),
        "subject": num[keep].to_numpy(), "correct": correct,
        "plural_won": np.where(sing_subject, ~correct, correct),
    })


def plural_wins(items: pd.DataFrame) -> float:
    """Share (0-1) of the NA items in which the plural verb form scored higher; NaN if none.

    ``items``: the per-item table of :func:`rnnscope.agreement.score` (``condition``,
    ``is_correct``, ``correct_form``, ``wrong_form``).
    """
    frame = _by_subject(items)
    return float(frame["plural_won"].mean()) if len(frame) else float("nan")


def by_verb(items: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per verb pair with singular and with plural subjects, and ``plural_wins``.

    One row per verb (``singular``, ``plural`` forms), sorted by ``plural_wins`` (most biased
    first); accuracies and ``plural_wins`` in %. Items whose condition does not give the
    subject's number are not counted (``rows_left_out`` in ``DataFrame.attrs``).
    """
    frame = _by_subject(items)
    rows = []
    for (sing, plur), g in frame.groupby(["singular", "plural"], sort=False):
        s, p = g[g["subject"] == "S"], g[g["subject"] == "P"]
        rows.append({"singular": sing, "plural": plur,
                     "n_S": len(s), "accuracy_S": 100 * s["correct"].mean() if len(s) else np.nan,
                     "n_P": len(p), "accuracy_P": 100 * p["correct"].mean() if len(p) else np.nan,
                     "plural_wins": 100 * g["plural_won"].mean()})
    out = pd.DataFrame(rows, columns=["singular", "plural", "n_S", "accuracy_S", "n_P",
                                      "accuracy_P", "plural_wins"])
    out = out.sort_values("plural_wins", ascending=False, kind="stable").reset_index(drop=True)
    out.attrs["rows_left_out"] = len(items) - len(frame)
    return out


def plot_by_verb(table: pd.DataFrame, title: str = "agreement per verb") -> "plt.Figure":
    """Paired bars per verb: accuracy with singular (blue) and plural (orange) subjects."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(table)), 3.5))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["accuracy_S"].fillna(0), 0.4, label="singular subject", color="#5b8ff9")
    ax.bar(x + 0.2, table["accuracy_P"].fillna(0), 0.4, label="plural subject", color="#f6903d")
    ax.set_xticks(x, [f"{s}/{p}" for s, p in zip(table["singular"], table["plural"])],
                  rotation=60, ha="right", fontsize=8)
    ax.axhline(50, color="grey", ls="--", lw=1)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{title} (left: most biased to the plural form)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig
