"""The HTML report: self-contained, every applicable section present, failures shown in place,
and (in headless Chromium) every embedded figure actually renders."""
from __future__ import annotations

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
def report_html(model_vocab_corpus, tmp_path_factory):
    model, vocab, corpus = model_vocab_corpus
    path = build_report(model, vocab, corpus, tmp_path_factory.mktemp("rep") / "report.html",
                        n_units=3, progress=False)
    return path


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


def test_a_failing_section_is_reported_not_raised(model_vocab_corpus, tmp_path):
    from rnnscope.extract import extract
    from rnnscope.report.context import ReportContext
    model, vocab, corpus = model_vocab_corpus
    store = extract(model, vocab, corpus, tmp_path / "s", components=["h"], progress=False)

    def broken(ctx):
        raise ValueError("planted failure")

    def not_here(ctx):
        raise Skip("does not apply")

    ctx = ReportContext(model, vocab, corpus, store, key="layer2.h", n_units=2, progress=False)
    out = dict((a, body) for a, _, body in run_sections(ctx, [("b", "B", broken), ("n", "N", not_here)]))
    assert "planted failure" in out["b"] and "class='error'" in out["b"]
    assert "does not apply" in out["n"]
    assert out["cards"].count("class='card'") == 2


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
