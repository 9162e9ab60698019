"""Tiny HTML helpers for the self-contained report: escaping, number formats, tables, embedded
figures, page.

One number format across the report (see docs/report.md), applied by :func:`fmt`:

- ``pct``: a fraction of a whole (accuracy, precision, recall, baseline, share of tokens,
  sigma_1 / sum sigma) as a percentage with one decimal: ``68.9%``;
- ``pp``: a difference of two such fractions (selectivity, accuracy drop) in signed percentage
  points with one decimal: ``+25.9 pp``;
- ``signed``: a signed statistic (correlation r, effect size d, silhouette, weight, activation,
  mean) with its sign always shown and three decimals: ``+0.460``, ``-0.645``;
- ``num``: a non-negative magnitude (standard deviation, sigma_1, gradient norm) with three
  significant digits: ``0.780``, ``0.0163``, ``12.3``;
- ``int``: counts, as integers;
- ``sec``: seconds with one decimal: ``3.4 s``.

:func:`table` picks the format of a column from ``formats`` or else from
:data:`COLUMN_FORMATS` (by column name); any other float column is ``num``.
"""
from __future__ import annotations

import html
import math
import numbers

import pandas as pd
from matplotlib.figure import Figure

from rnnscope.figures.io import figure_to_data_uri

CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 1em auto; color: #222; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.error { background: #fdecea; border-left: 4px solid #d32f2f; padding: 6px; white-space: pre-wrap; }
.skip { color: #777; font-style: italic; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 8px 12px; margin: 1em 0; }
.card h3 { margin-top: 0; }
.ctx { font-family: monospace; }
nav a { margin-right: 10px; }
footer { margin-top: 3em; color: #555; font-size: 12px; }
"""

KINDS = ("pct", "pp", "signed", "num", "int", "sec", "text")

#: Format of a table column by its name (see the module docstring).
COLUMN_FORMATS = {
    "accuracy": "pct", "control_accuracy": "pct", "majority": "pct", "precision": "pct",
    "recall": "pct", "ratio": "pct", "share": "pct", "on": "pct",
    "selectivity": "pp", "drop": "pp", "accuracy drop": "pp",
    "pearson": "signed", "spearman": "signed", "r": "signed", "effect (d)": "signed",
    "L1 weight": "signed", "weight": "signed", "activation": "signed", "mean": "signed",
    "silhouette": "signed",
    "sigma1": "num", "std": "num", "norm": "num",
    "n": "int", "n_test": "int", "n_train": "int", "unit": "int", "rank": "int",
    "sentence": "int", "overlap": "int", "extra": "int", "delay": "int", "seconds": "sec",
}


def esc(text) -> str:
    return html.escape(str(text))


def fmt(value, kind: str = "num") -> str:
    """``value`` in the report's format ``kind`` (one of :data:`KINDS`); NaN/None as ``–``."""
    if kind not in KINDS:
        raise ValueError(f"number format must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "text" or isinstance(value, str):
        return str(value)
    if value is None or (isinstance(value, numbers.Real) and not math.isfinite(float(value))):
        return "–"
    x = float(value)
    if kind == "pct":
        return f"{100 * x:.1f}%"
    if kind == "pp":
        return f"{100 * x:+.1f} pp"
    if kind == "signed":
        return f"{x:+.3f}"
    if kind == "int":
        return f"{int(round(x))}"
    if kind == "sec":
        return f"{x:.1f} s"
    if x == 0:
        return "0"
    digits = 3 - 1 - math.floor(math.log10(abs(x)))      # three significant digits
    return f"{x:.{min(max(digits, 0), 8)}f}"


def _cell(v, kind: str | None) -> tuple[str, bool]:
    """Formatted cell text and whether it is a number (right-aligned)."""
    if isinstance(v, bool):
        return str(v), False
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v[:20])) + (" …" if len(v) > 20 else ""), False
    if isinstance(v, numbers.Integral):
        return fmt(v, kind or "int"), True
    if isinstance(v, numbers.Real):
        return fmt(v, kind or "num"), True
    return str(v), False


def table(frame: pd.DataFrame, max_rows: int = 30, formats: dict[str, str] | None = None,
          note_more: bool = True) -> str:
    """A DataFrame as an HTML table (first ``max_rows`` rows; numbers in the report's format).

    ``formats`` maps a column to a kind of :func:`fmt`; other columns use
    :data:`COLUMN_FORMATS` by name, then ``int`` / ``num`` by type.
    """
    shown = frame.head(max_rows)
    kinds = [(formats or {}).get(str(c), COLUMN_FORMATS.get(str(c))) for c in shown.columns]
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False):
        cells = []
        for v, kind in zip(rec, kinds):
            text, numeric = _cell(v, kind)
            cells.append(f"<td class='n'>{esc(text)}</td>" if numeric else f"<td>{esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='skip'>{len(frame) - max_rows} more rows not shown</p>" if note_more and len(frame) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"


def figure(fig: Figure, alt: str) -> str:
    """An ``<img>`` with the figure embedded as a base64 PNG (no external file)."""
    return f'<img alt="{esc(alt)}" src="{figure_to_data_uri(fig)}">'


def timings_footer(timings: dict[str, float]) -> str:
    """The seconds each step of the build took, as a footer table."""
    if not timings:
        return ""
    frame = pd.DataFrame({"step": list(timings), "seconds": list(timings.values())})
    total = sum(timings.values())
    return (f"<footer id='timings'><h4>Build time per section (total {esc(fmt(total, 'sec'))})</h4>"
            + table(frame, max_rows=len(frame)) + "</footer>")


def page(title: str, sections: list[tuple[str, str, str]], footer: str = "") -> str:
    """The whole document: ``sections`` are ``(anchor, heading, body html)``."""
    nav = " ".join(f'<a href="#{a}">{esc(h)}</a>' for a, h, _ in sections)
    body = "\n".join(f'<section id="{a}"><h2>{esc(h)}</h2>\n{b}\n</section>' for a, h, b in sections)
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1><nav>{nav}</nav>\n{body}\n"
            f"{footer}</body></html>\n")
