"""Tiny HTML helpers for the self-contained report: escaping, tables, embedded figures, page."""
from __future__ import annotations

import html

import pandas as pd
from matplotlib.figure import Figure

from rnnscope.figures.io import figure_to_data_uri

CSS = """
body { font-family: sans-serif; max-width: 1100px; margin: 1em auto; color: #222; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; font-size: 13px; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.error { background: #fdecea; border-left: 4px solid #d32f2f; padding: 6px; white-space: pre-wrap; }
.skip { color: #777; font-style: italic; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 8px 12px; margin: 1em 0; }
.card h3 { margin-top: 0; }
.ctx { font-family: monospace; }
nav a { margin-right: 10px; }
"""


def esc(text) -> str:
    return html.escape(str(text))


def table(frame: pd.DataFrame, max_rows: int = 30, floatfmt: str = "{:.3f}", note_more: bool = True) -> str:
    """A DataFrame as an HTML table (first ``max_rows`` rows; floats formatted)."""
    shown = frame.head(max_rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False):
        cells = []
        for v in rec:
            if isinstance(v, float):
                v = floatfmt.format(v)
            elif isinstance(v, (list, tuple)):
                v = ", ".join(map(str, v[:20])) + (" …" if len(v) > 20 else "")
            cells.append(f"<td>{esc(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f"<p class='skip'>{len(frame) - max_rows} more rows not shown</p>" if note_more and len(frame) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"


def figure(fig: Figure, alt: str) -> str:
    """An ``<img>`` with the figure embedded as a base64 PNG (no external file)."""
    return f'<img alt="{esc(alt)}" src="{figure_to_data_uri(fig)}">'


def page(title: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole document: ``sections`` are ``(anchor, heading, body html)``."""
    nav = " ".join(f'<a href="#{a}">{esc(h)}</a>' for a, h, _ in sections)
    body = "\n".join(f'<section id="{a}"><h2>{esc(h)}</h2>\n{b}\n</section>' for a, h, b in sections)
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1><nav>{nav}</nav>\n{body}\n"
            "</body></html>\n")
