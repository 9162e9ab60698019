"""Build the one-file HTML report: extract a store, run every section that applies, write HTML.

Every section runs in its own ``try``: a section that does not apply says why, and one that
fails shows its error in place, so one broken analysis never costs the whole report.

All sections share the one extraction (the store) and the context's working arrays; how long
each took is kept in ``ctx.timings``, logged (logger ``rnnscope.report``, level INFO) and
written in the report's footer.
"""
from __future__ import annotations

import logging
import tempfile
import time
import traceback
from pathlib import Path

from tqdm.auto import tqdm

from rnnscope.errors import RnnscopeError
from rnnscope.keys import key as make_key
from rnnscope.report.cards import cards
from rnnscope.report.context import ReportContext, Skip
from rnnscope.report.html import esc, page, timings_footer
from rnnscope.report.sections import SECTIONS

log = logging.getLogger("rnnscope.report")


def run_sections(ctx: ReportContext, sections=SECTIONS) -> list[tuple[str, str, str]]:
    """Run ``sections`` then the neuron cards; returns ``(anchor, heading, html)`` for each.

    The seconds each took go to ``ctx.timings[anchor]`` (and the log).
    """
    out = []
    todo = list(sections) + [("cards", "Neuron cards", cards)]
    bar = tqdm(todo, desc="report", unit="section", disable=not ctx.progress)
    for anchor, heading, fn in bar:
        bar.set_description(f"report: {heading}")  # which section is running now
        start = time.perf_counter()
        try:
            body = fn(ctx)
        except Skip as why:
            body = f"<p class='skip'>Not shown: {esc(why)}</p>"
        except Exception as exc:  # noqa: BLE001 - shown in the report instead of crashing it
            tail = "".join(traceback.format_exception(exc)[-3:])
            body = (f"<div class='error'>This section failed: {esc(type(exc).__name__)}: {esc(exc)}"
                    f"\n\n{esc(tail)}</div>")
        ctx.timings[anchor] = time.perf_counter() - start
        log.info("report section %s: %.1f s", anchor, ctx.timings[anchor])
        out.append((anchor, heading, body))
    bar.close()
    return out


def report_from_store(store, model, vocab, corpus, out_path: str | Path, *, key: str | None = None,
                      n_units: int = 6, max_rows: int = 50_000, progress: bool = True,
                      title: str | None = None, sample_rows: int = 8_000,
                      memory_sentences: int = 20, timings: dict | None = None) -> Path:
    """Write the report for an existing ``store`` of ``model`` on ``corpus``.

    ``sample_rows``: rows (whole sentences, seeded random) that correlations, probes and
    concept neurons are fitted on; ``memory_sentences``: sentences whose state gradients the
    memory section averages. ``timings``: a dict that gets the seconds per section (also
    logged and shown in the report's footer).
    """
    if key is None:
        key = make_key(model.config.num_layers, "h")
    if key not in store.keys():
        raise RnnscopeError(f"store has no {key!r}; it holds {', '.join(store.keys())}")
    if n_units < 1:
        raise RnnscopeError(f"n_units must be at least 1, got {n_units}")
    if sample_rows < 1 or memory_sentences < 1:
        raise RnnscopeError("sample_rows and memory_sentences must be at least 1")
    ctx = ReportContext(model=model, vocab=vocab, corpus=corpus, store=store, key=key,
                        n_units=n_units, max_rows=max_rows, progress=progress,
                        sample_rows=sample_rows, memory_sentences=memory_sentences)
    if timings is not None:
        ctx.timings = timings
    sections = run_sections(ctx)
    name = getattr(corpus, "name", "corpus")
    html = page(title or f"rnnscope report: {model.config.cell} on {name}", sections,
                footer=timings_footer(ctx.timings))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out


def build_report(model, vocab, corpus, out_path: str | Path, *, key: str | None = None,
                 n_units: int = 6, max_rows: int = 50_000, progress: bool = True,
                 work_dir: str | Path | None = None, title: str | None = None,
                 sample_rows: int = 8_000, memory_sentences: int = 20,
                 timings: dict | None = None) -> Path:
    """Extract ``model``'s states on ``corpus`` into a temporary store and write the report.

    ``key`` is the component the unit-level sections analyse (default: ``h`` of the top layer).
    ``work_dir`` keeps the store there instead of a temporary folder (it must not exist yet).
    ``timings``: a dict that gets the seconds of the extraction (``"extract"``) and of each
    section. Returns the path of the written HTML file, which is self-contained (figures
    embedded).
    """
    from rnnscope.extract import extract

    timings = {} if timings is None else timings
    comps = list(model.family.state)  # the carried states: h, and c for an LSTM
    if key is not None:
        comps = sorted(set(comps) | {key.split(".", 1)[-1]})
    rest = dict(key=key, n_units=n_units, max_rows=max_rows, progress=progress, title=title,
                sample_rows=sample_rows, memory_sentences=memory_sentences, timings=timings)

    def run(store_path: Path) -> Path:
        start = time.perf_counter()
        store = extract(model, vocab, corpus, store_path, components=comps, progress=progress)
        timings["extract"] = time.perf_counter() - start
        log.info("report extract: %.1f s", timings["extract"])
        return report_from_store(store, model, vocab, corpus, out_path, **rest)

    if work_dir is not None:
        return run(Path(work_dir))
    with tempfile.TemporaryDirectory(prefix="rnnscope-report-") as tmp:
        return run(Path(tmp) / "store")
