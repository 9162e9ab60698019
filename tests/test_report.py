"""The HTML report: self-contained, every applicable section present, failures shown in place,
and (in headless Chromium) every embedded figure actually renders."""
from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import tiny_model
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.report import build_report
from rnnscope.report.build import run_sections
from rnnscope.report.context import Skip
from rnnscope.vocab import Vocabulary

DET = ["the", "a"]
NOUN = ["dog", "cat", "court", "bank", "market"]
VERB = ["sees", "likes", "rules", "opens"]
ADJ = ["big", "red", "old"]


def tagged_corpus(n: int = 40, seed: int = 0) -> Corpus:
    """Sentences DET (ADJ) NOUN VERB DET NOUN with UPOS tags."""
    rng = np.random.default_rng(seed)
    sents = []
    for k in range(n):
        words, tags = [], []
        for part in ("DET", "ADJ?", "NOUN", "VERB", "DET", "NOUN"):
            if part == "ADJ?":
                if rng.random() < 0.5:
                    words.append(str(rng.choice(ADJ)))
                    tags.append("ADJ")
                continue
            words.append(str(rng.choice({"DET": DET, "NOUN": NOUN, "VERB": VERB}[part])))
            tags.append(part)
        sents.append(Sentence(words, {"upos": tags}, sent_id=str(k)))
    return Corpus(sents, name="tagged-test")


def write_conllu(corpus: Corpus, path) -> None:
    lines = []
    for s in corpus:
        lines.append(f"# sent_id = {s.sent_id}")
        for i, (w, t) in enumerate(zip(s.words, s.annotations["upos"]), start=1):
            lines.append(f"{i}\t{w}\t{w}\t{t}\t_\t_\t{0 if i == 1 else 1}\t{'root' if i == 1 else 'dep'}\t_\t_")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def model_vocab_corpus():
    corpus = tagged_corpus()
    vocab = Vocabulary.build("word", [" ".join(s.words) for s in corpus])
    model = tiny_model("lstm", layers=2, hidden=16, vocab=len(vocab), emb=8)
    return model, vocab, corpus


@pytest.fixture(scope="module")
def report_build(model_vocab_corpus, tmp_path_factory):
    """The report of the tagged corpus, and the seconds per section its build recorded."""
    model, vocab, corpus = model_vocab_corpus
    timings = {}
    path = build_report(model, vocab, corpus, tmp_path_factory.mktemp("rep") / "report.html",
                        n_units=3, progress=False, timings=timings)
    return path, timings


@pytest.fixture(scope="module")
def report_html(report_build):
    return report_build[0]


def test_report_is_self_contained_with_all_sections(report_html):
    html = report_html.read_text()
    sections = dict(re.findall(r'<section id="(\w+)">(.*?)</section>', html, flags=re.S))
    assert list(sections) == ["overview", "positions", "tags", "correlations", "lexical", "matching",
                              "probe", "concepts", "memory", "agreement", "cards"]
    for own in ("overview", "positions", "tags", "lexical", "matching", "memory", "cards"):
        assert "class='error'" not in sections[own] and "class='skip'>Not shown" not in sections[own], own
    assert "not in the model's vocabulary" in sections["agreement"] or "cannot be scored" in sections["agreement"] \
        or "<img" in sections["agreement"]
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(srcs) >= 8 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(src|href)="(https?:)?//', html)       # nothing from the network
    cards = re.findall(r"<div class='card' id='unit-(\d+)'>", html)
    assert len(cards) >= 3
    assert "Top activating contexts" in html and "strongest correlations" in html
    assert sections["cards"].count("<h4>memory</h4>") == len(cards)  # per-unit state-gradient curve
    if "class='error'" not in sections["concepts"]:          # concept neurons ran: weights on cards
        assert sections["cards"].count("<h4>probe weights</h4>") == len(cards)
    focus = re.search(r"Most frequent upos class: <b>(\w+)</b>", html).group(1)
    assert focus in ("DET", "NOUN") and f"selective for {focus}" in html   # its unit has a card


def test_a_failing_section_is_reported_not_raised(model_vocab_corpus, tmp_path, caplog):
    from rnnscope.extract import extract
    from rnnscope.report.context import ReportContext
    model, vocab, corpus = model_vocab_corpus
    store = extract(model, vocab, corpus, tmp_path / "s", components=["h"], progress=False)

    def broken(ctx):
        raise ValueError("planted failure")

    def not_here(ctx):
        raise Skip("does not apply")

    ctx = ReportContext(model, vocab, corpus, store, key="layer2.h", n_units=2, progress=False)
    with caplog.at_level(logging.INFO, logger="rnnscope.report"):
        out = dict((a, body) for a, _, body in run_sections(ctx, [("b", "B", broken), ("n", "N", not_here)]))
    assert "planted failure" in out["b"] and "class='error'" in out["b"]
    assert "does not apply" in out["n"]
    assert out["cards"].count("class='card'") == 2
    # every section, failed or skipped too, has its seconds recorded and logged
    assert list(ctx.timings) == ["b", "n", "cards"] and all(v >= 0 for v in ctx.timings.values())
    logged = [r.getMessage() for r in caplog.records if r.name == "rnnscope.report"]
    assert [m.split(":")[0] for m in logged] == ["report section b", "report section n",
                                                 "report section cards"]


def test_cli_report_match_figure_and_errors(model_vocab_corpus, tmp_path):
    model, vocab, corpus = model_vocab_corpus
    save_model(model, vocab, tmp_path / "model")
    write_conllu(corpus, tmp_path / "c.conllu")
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(main, ["report", "--model", str(tmp_path / "model"), "--corpus",
                               str(tmp_path / "c.conllu"), "--out", str(out), "--units", "1",
                               "--max-sentences", "12"])
    assert res.exit_code == 0, res.output
    assert out.exists() and "<section id=\"cards\">" in out.read_text()
    from rnnscope.extract import extract
    extract(model, vocab, corpus, tmp_path / "store", progress=False)
    store = str(tmp_path / "store")
    res = runner.invoke(main, ["match", store, "--span", "0:1:3", "--figure", str(tmp_path / "m.png"),
                               "--csv", str(tmp_path / "m.csv")])
    assert res.exit_code == 0, res.output
    assert "selection:" in res.output and (tmp_path / "m.csv").exists()
    res = runner.invoke(main, ["match", store, "--idiom", "the dog", "--idiom", "the cat"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["figure", "text", "--store", store, "--unit", "1", "--highlight",
                               "NOUN", "--out", str(tmp_path / "t.svg")])
    assert res.exit_code == 0 and "<svg" in (tmp_path / "t.svg").read_text()[:400]
    for args, words in [(["match", store, "--span", "0:1:3", "--threshold", "1.5"], "threshold"),
                        (["match", store, "--span", "0:2:99"], "out of range"),
                        (["match", store, "--phrase", "no such words"], "does not occur"),
                        (["figure", "text", "--store", store, "--unit", "99", "--out", str(tmp_path / "x.png")], "out of range"),
                        (["figure", "text", "--store", store, "--unit", "1", "--out", str(tmp_path / "x.jpg")], ".png or .svg")]:
        res = runner.invoke(main, args)
        assert res.exit_code == 2 and words in res.output, (args, res.output)


def test_serve_refuses_a_store_being_written(tmp_path):
    from rnnscope.store import StoreWriter
    StoreWriter.create(tmp_path / "half", n_rows=4, keys=["layer1.h"], hidden_size=2)
    res = CliRunner().invoke(main, ["serve", str(tmp_path / "half")])
    assert res.exit_code == 2 and "incomplete" in res.output


def test_report_figures_render_in_chromium(report_html, tmp_path):
    from test_viewer_browser import ARTIFACTS, chromium_driver
    driver = chromium_driver(tmp_path / "profile")
    try:
        driver.get(report_html.as_uri())
        total = driver.execute_script("return document.images.length")
        rendered = driver.execute_script(
            "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
        assert total >= 8 and rendered == total
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "report_top.png"))
    finally:
        driver.quit()


def test_report_on_the_shipped_demo_model_renders_in_chromium(tmp_path):
    """``rnnscope report`` on the demo model + demo sentences: every figure renders."""
    from pathlib import Path

    import rnnscope
    from rnnscope.checkpoint import is_native
    data = Path(rnnscope.__file__).parent / "data"
    model_dir = data / "demo_model"
    if not (model_dir.is_dir() and is_native(model_dir)):
        pytest.skip(f"no demo model shipped yet at {model_dir}")
    out = tmp_path / "demo.html"
    res = CliRunner().invoke(main, ["report", "--model", str(model_dir), "--corpus",
                                    str(data / "demo_sentences.txt"), "--out", str(out), "--units", "2"])
    assert res.exit_code == 0, res.output
    from test_viewer_browser import chromium_driver
    driver = chromium_driver(tmp_path / "profile")
    try:
        driver.get(out.as_uri())
        total = driver.execute_script("return document.images.length")
        rendered = driver.execute_script(
            "return Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length")
        assert total >= 5 and rendered == total
    finally:
        driver.quit()


def test_agreement_section_and_ablation_on_cards_for_a_vocabulary_with_the_verbs(tmp_path):
    """A word model whose vocabulary holds the agreement items: the section scores them and
    every card gets its unit's single-ablation effect."""
    from rnnscope.agreement import TASKS, generate
    from rnnscope.extract import extract
    from rnnscope.report.context import ReportContext
    from rnnscope.report.sections import agreement_section
    items = generate(tasks=list(TASKS[:2]), n=20, seed=0)
    lines = [" ".join(it.prefix + (it.correct,)) for it in items] + [it.wrong for it in items]
    vocab = Vocabulary.build("word", lines)
    model = tiny_model("lstm", layers=1, hidden=12, vocab=len(vocab), emb=8)
    corpus = Corpus([Sentence(list(it.prefix) + [it.correct]) for it in items[:20]], name="na")
    store = extract(model, vocab, corpus, tmp_path / "s", components=["h"], progress=False)
    ctx = ReportContext(model, vocab, corpus, store, key="layer1.h", n_units=3, progress=False)
    body = agreement_section(ctx)
    assert "<img" in body and "Simple" in body
    effects = {u: [h for t, h in ctx.notes[u] if t == "ablation effect"] for u in ctx.units}
    assert all(len(v) == 1 and "points" in v[0] for v in effects.values())


# -- issue 15: timings, one number format, redesigned figures, sampled fits -------------------
def _sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)">(.*?)</section>', html, flags=re.S))


def _tables(body: str) -> list[tuple[list[str], list[list[str]]]]:
    """Header and rows (cell texts) of every table in ``body``."""
    out = []
    for tab in re.findall(r"<table>(.*?)</table>", body, flags=re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", tab, flags=re.S)
        head = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<th>(.*?)</th>", rows[0], flags=re.S)]
        cells = [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, flags=re.S)]
                 for r in rows[1:]]
        out.append((head, cells))
    return out


def _column(body: str, name: str) -> list[str]:
    values = []
    for head, rows in _tables(body):
        if name in head:
            values += [r[head.index(name)] for r in rows]
    return values


def test_build_records_the_seconds_of_every_section(report_build):
    path, timings = report_build
    html = path.read_text()
    assert list(timings) == ["extract", *_sections(html)]          # extraction, sections, cards
    assert all(isinstance(v, float) and v >= 0 for v in timings.values())
    footer = re.search(r"<footer id='timings'>(.*?)</footer>", html, flags=re.S).group(1)
    steps = _column(footer, "step")
    assert steps == list(timings)
    assert all(re.fullmatch(r"\d+\.\d s", v) for v in _column(footer, "seconds"))


def test_number_format_is_one_rule_across_the_report(report_html):
    from rnnscope.report.html import fmt
    assert [fmt(0.6891, "pct"), fmt(0.259, "pp"), fmt(-0.02, "pp"), fmt(-0.6449, "signed"),
            fmt(0.46, "signed"), fmt(0.0163, "num"), fmt(0.78, "num"), fmt(12.34, "num"),
            fmt(float("nan"), "pct"), fmt(3.0, "int"), fmt(2.04, "sec")] == \
        ["68.9%", "+25.9 pp", "-2.0 pp", "-0.645", "+0.460", "0.0163", "0.780", "12.3", "–", "3", "2.0 s"]
    with pytest.raises(ValueError, match="number format"):
        fmt(1.0, "percent")
    sec = _sections(report_html.read_text())
    pct = re.compile(r"\d{1,3}\.\d%")
    pp = re.compile(r"[+-]\d{1,3}\.\d pp")
    signed = re.compile(r"[+-]\d+\.\d{3}")
    checks = [("probe", "accuracy", pct), ("probe", "control_accuracy", pct), ("probe", "majority", pct),
              ("probe", "selectivity", pp), ("correlations", "pearson", signed),
              ("correlations", "spearman", signed), ("tags", "effect (d)", signed),
              ("cards", "pearson", signed), ("cards", "L1 weight", signed),
              ("memory", "σ₁/Σσ", pct), ("agreement", "accuracy", pct)]
    for where, column, rule in checks:
        values = _column(sec[where], column)
        if where == "agreement" and not values:
            continue                                    # the section did not apply
        assert values and all(rule.fullmatch(v) for v in values), (where, column, values[:5])
    concept = [v for head, rows in _tables(sec["concepts"]) for r in rows
               for h, v in zip(head, r) if h.startswith("k=")]
    assert concept and all(re.fullmatch(r"(\d{1,3}\.\d%|–)( / (\d{1,3}\.\d%|–)){2}", v) for v in concept)
    assert all(signed.fullmatch(v) for v in re.findall(r"<td class='n'>([^<]*)</td><td class='ctx'>",
                                                        sec["cards"]))
    assert re.search(r"reaches \d{1,3}\.\d% training accuracy", sec["tags"])
    assert re.search(r"on \(tanh &gt; 0\.3\) at \d{1,3}\.\d% of tokens", sec["cards"])


def test_report_shows_the_redesigned_figures(report_html):
    sec = _sections(report_html.read_text())
    alts = {name: re.findall(r'<img alt="([^"]+)"', body) for name, body in sec.items()}
    assert alts["correlations"] == ["correlations with every feature"]      # one figure, not four
    assert alts["lexical"] == ["lexical space"]
    assert "match view" in alts["matching"] and "match grid" not in alts["matching"]
    assert alts["memory"] == ["memory curves", "memory of the units of interest"]
    assert "<img" not in sec["cards"].split("<h4>memory</h4>", 1)[1].split("<h4>", 1)[0]  # a table


def test_model_fitting_sections_use_a_sample_of_whole_sentences(model_vocab_corpus, tmp_path):
    from rnnscope.extract import extract
    from rnnscope.report.context import ReportContext, sample_sentences
    from rnnscope.report.sections import concept_section, correlations, probes
    model, vocab, corpus = model_vocab_corpus
    store = extract(model, vocab, corpus, tmp_path / "s", components=["h", "c"], progress=False)
    ctx = ReportContext(model, vocab, corpus, store, key="layer2.h", n_units=2, progress=False,
                        sample_rows=100)
    sample = ctx.sample
    assert 100 <= len(sample) < len(store) and sample.keys() == store.keys()
    sizes = store.tokens.groupby("sentence").size()
    got = sample.tokens.groupby("sentence").size()
    assert (got == sizes.loc[got.index]).all()                 # whole sentences only
    assert got.index.is_monotonic_increasing and sample.n_sentences == len(got)
    np.testing.assert_array_equal(sample.get("layer2.c", [0, 3]), store.get("layer2.c", sample.rows[[0, 3]]))
    rows_again, _ = sample_sentences(store.tokens, 100)
    np.testing.assert_array_equal(rows_again, sample.rows)     # seeded: the same sample each run
    ctx.tag_column = "upos"
    for section in (correlations, probes, concept_section):
        body = section(ctx)
        assert f"random sample of {sample.n_sentences} of the {len(sizes)} sentences" in body
    n_test = int(_column(probes(ctx), "n_test")[0])
    assert n_test <= 0.15 * len(sample)
    whole = ReportContext(model, vocab, corpus, store, key="layer2.h", progress=False)
    assert len(whole.sample) == len(store) and whole.sample_note() == f"all {len(store)} tokens"
