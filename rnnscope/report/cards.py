"""Neuron cards: one box per chosen unit with its top contexts, distribution and the notes the
sections left for it (correlations, probe weights, ablation effect, memory)."""
from __future__ import annotations

import numpy as np

from rnnscope import figures
from rnnscope.analysis.match import sentence_bounds
from rnnscope.report.context import ReportContext
from rnnscope.report.html import esc, figure, fmt
from rnnscope.report.sections import unit_title


def top_contexts(ctx: ReportContext, unit: int, k: int = 8, width: int = 6) -> list[tuple[float, str, str, str]]:
    """The ``k`` rows where ``unit`` is highest: (value, left context, token, right context)."""
    values = ctx.values[:, unit]
    toks = ctx.tokens["token"].astype(str).to_numpy()
    bounds = sentence_bounds(ctx.tokens)
    out = []
    for r in np.argsort(-values)[:k]:
        s = int(np.searchsorted(bounds, r, side="right")) - 1
        lo, hi = max(int(bounds[s]), r - width), min(int(bounds[s + 1]), r + 1 + width)
        out.append((float(values[r]), ctx.joiner.join(toks[lo:r]), toks[r], ctx.joiner.join(toks[r + 1:hi])))
    return out


def card(ctx: ReportContext, unit: int) -> str:
    v = ctx.values[:, unit]
    rows = "".join(f"<tr><td class='n'>{fmt(val, 'signed')}</td><td class='ctx'>{esc(left)} <b>{esc(tok)}</b> {esc(right)}</td></tr>"
                   for val, left, tok, right in top_contexts(ctx, unit))
    tags = ctx.tag_values()
    if tags is not None and ctx.focus_class is not None:
        hist = figures.match_histogram(v, (tags == ctx.focus_class).to_numpy(),
                                       labels=(ctx.focus_class, f"not {ctx.focus_class}"),
                                       title=f"unit {unit}")
    else:
        hist = figures.match_histogram(v, np.zeros(len(v), bool), labels=("", "all tokens"),
                                       title=f"unit {unit}")
    parts = [f"<div class='card' id='unit-{unit}'><h3>{esc(unit_title(ctx, unit))}</h3>",
             f"<p>mean {fmt(v.mean(), 'signed')}, std {fmt(v.std(), 'num')}, on (tanh &gt; 0.3) at "
             f"{fmt((np.tanh(v) > 0.3).mean(), 'pct')} of tokens</p>",
             "<h4>Top activating contexts</h4><table>" + rows + "</table>",
             figure(hist, f"activation histogram of unit {unit}")]
    for title, html in ctx.notes.get(unit, []):
        parts.append(f"<h4>{esc(title)}</h4>{html}")
    parts.append("</div>")
    return "\n".join(parts)


def cards(ctx: ReportContext) -> str:
    return "<p>One card per unit of interest (most variable units and those the sections singled out).</p>" + \
        "\n".join(card(ctx, u) for u in ctx.units)
