"""Build the one-file HTML report: extract a store, run every section that applies, write HTML.

Every section runs in its own ``try``: a section that does not apply says why, and one that
fails shows its error in place, so one broken analysis never costs the whole report.
"""
from __future__ import annotations

import tempfile
import traceback
from pathlib import Path

from tqdm.auto import tqdm

from rnnscope.errors import RnnscopeError
from rnnscope.keys import key as make_key
from rnnscope.report.cards import cards
from rnnscope.report.context import ReportContext, Skip
from rnnscope.report.html import esc, page
from rnnscope.report.sections import SECTIONS


def run_sections(ctx: ReportContext, sections=SECTIONS) -> list[tuple[str, str, str]]:
    """Run ``sections`` then the neuron cards; returns ``(anchor, heading, html)`` for each."""
    out = []
    todo = list(sections) + [("cards", "Neuron cards", cards)]
    bar = tqdm(todo, desc="report", unit="section", disable=not ctx.progress)
    for anchor, heading, fn in bar:
        bar.set_description(f"report: {heading}")  # which section is running now
        try:
            body = fn(ctx)
        except Skip as why:
            body = f"<p class='skip'>Not shown: {esc(why)}</p>"
        except Exception as exc:  # noqa: BLE001 - shown in the report instead of crashing it
            tail = "".join(traceback.format_exception(exc)[-3:])
            body = (f"<div class='error'>This section failed: {esc(type(exc).__name__)}: {esc(exc)}"
                    f"\n\n{esc(tail)}</div>")
        out.append((anchor, heading, body))
    bar.close()
    return out


def report_from_store(store, model, vocab, corpus, out_path: str | Path, *, key: str | None = None,
                      n_units: int = 6, max_rows: int = 50_000, progress: bool = True,
                      title: str | None = None) -> Path:
    """Write the report for an existing ``store`` of ``model`` on ``corpus``."""
    if key is None:
        key = make_key(model.config.num_layers, "h")
    if key not in store.keys():
        raise RnnscopeError(f"store has no {key!r}; it holds {', '.join(store.keys())}")
    if n_units < 1:
        raise RnnscopeError(f"n_units must be at least 1, got {n_units}")
    ctx = ReportContext(model=model, vocab=vocab, corpus=corpus, store=store, key=key,
                        n_units=n_units, max_rows=max_rows, progress=progress)
    sections = run_sections(ctx)
    name = getattr(corpus, "name", "corpus")
    html = page(title or f"rnnscope report: {model.config.cell} on {name}", sections)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def build_report(model, vocab, corpus, out_path: str | Path, *, key: str | None = None,
                 n_units: int = 6, max_rows: int = 50_000, progress: bool = True,
                 work_dir: str | Path | None = None, title: str | None = None) -> Path:
    """Extract ``model``'s states on ``corpus`` into a temporary store and write the report.

    ``key`` is the component the unit-level sections analyse (default: ``h`` of the top layer).
    ``work_dir`` keeps the store there instead of a temporary folder (it must not exist yet).
    Returns the path of the written HTML file, which is self-contained (figures embedded).
    """
    from rnnscope.extract import extract

    comps = list(model.family.state)  # the carried states: h, and c for an LSTM
    if key is not None:
        comps = sorted(set(comps) | {key.split(".", 1)[-1]})
    if work_dir is not None:
        store = extract(model, vocab, corpus, Path(work_dir), components=comps, progress=progress)
        return report_from_store(store, model, vocab, corpus, out_path, key=key, n_units=n_units,
                                 max_rows=max_rows, progress=progress, title=title)
    with tempfile.TemporaryDirectory(prefix="rnnscope-report-") as tmp:
        store = extract(model, vocab, corpus, Path(tmp) / "store", components=comps, progress=progress)
        return report_from_store(store, model, vocab, corpus, out_path, key=key, n_units=n_units,
                                 max_rows=max_rows, progress=progress, title=title)
