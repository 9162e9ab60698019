"""The main job: ``rnnscope demo`` runs end to end and prints what it promises."""
from __future__ import annotations

import math

import torch
from click.testing import CliRunner

from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.demo import DEMO_MODEL, DEMO_SENTENCES, run_demo
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary


def _tiny_demo_model(path):
    vocab = Vocabulary.build("word", DEMO_SENTENCES.read_text().splitlines())
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=len(vocab), hidden_size=24, emb_dim=12))
    save_model(model, vocab, path)
    return len(vocab)


def test_demo_reports_perplexity_position_units_and_report(tmp_path):
    vocab_size = _tiny_demo_model(tmp_path / "m")
    lines: list[str] = []
    result = run_demo(tmp_path / "out", model_path=tmp_path / "m", say=lines.append, top=4)
    # an untrained model is near-uniform: perplexity close to the vocabulary size
    assert 0.5 * vocab_size < result.perplexity < 2 * vocab_size
    top = result.top_position_units
    assert len(top) == 4
    assert list(top["pearson"].abs()) == sorted(top["pearson"].abs(), reverse=True)
    assert (result.store_path / "COMPLETE").exists()
    html = result.report_path.read_text()
    assert "<img" in html and "http://" not in html.split("<body", 1)[1][:2000]
    assert any(line.startswith("perplexity on demo_sentences.txt") for line in lines)


def test_demo_cli_without_report(tmp_path):
    _tiny_demo_model(tmp_path / "m")
    out = CliRunner().invoke(main, ["demo", "--model", str(tmp_path / "m"), "--out",
                                    str(tmp_path / "o"), "--no-report"])
    assert out.exit_code == 0, out.output
    assert "units most correlated with the word's position" in out.output
    assert "report:" not in out.output
    cpu = CliRunner().invoke(main, ["demo", "--model", str(tmp_path / "m"), "--out",
                                    str(tmp_path / "o"), "--no-report", "--device", "cpu"])
    assert cpu.exit_code == 0 and "(on cuda" not in cpu.output, cpu.output
    bad = CliRunner().invoke(main, ["demo", "--model", str(tmp_path / "m"), "--device", "tpu"])
    assert bad.exit_code == 2 and "unknown device 'tpu'" in bad.output


def test_demo_cli_missing_model_is_one_clear_line(tmp_path):
    out = CliRunner().invoke(main, ["demo", "--model", str(tmp_path / "nope")])
    assert out.exit_code == 2
    assert out.output.strip().startswith("error: demo model not found")


def test_shipped_demo_model_loads_and_beats_uniform():
    from rnnscope.checkpoint import load_model
    from rnnscope.training.data import encode_text
    from rnnscope.training.train import evaluate_loss

    model, vocab = load_model(DEMO_MODEL)
    stream = encode_text(DEMO_SENTENCES.read_text(), vocab)
    ppl = math.exp(evaluate_loss(model, stream, batch_size=1))
    assert ppl < len(vocab) / 10  # a trained model, far better than uniform guessing


def test_generated_demo_corpus_is_annotated_by_construction(tmp_path):
    from rnnscope.corpus.generated import agreement_conllu
    from rnnscope.corpus.readers import read_conllu

    (tmp_path / "g.conllu").write_text(agreement_conllu(n=3, seed=1))
    corpus = read_conllu(tmp_path / "g.conllu")
    assert len(corpus) == 3 * 16  # 16 conditions of the six tasks
    for s in corpus:
        ann = s.annotations
        root = ann["deprel"].index("root")
        assert ann["upos"][root] == "VERB" and ann["head"][root] == 0
        subj = ann["deprel"].index("nsubj")
        assert ann["head"][subj] == root + 1  # the subject depends on the verb
        assert ann["feats"][subj]["Number"] == ann["feats"][root]["Number"]  # agreement, by construction
        assert s.words[-1] == "." and all(w == w.lower() for w in s.words)


def test_demo_report_has_every_section_filled(tmp_path):
    """On the shipped model and the generated corpus no report section is left "Not shown"."""
    lines: list[str] = []
    result = run_demo(tmp_path / "out", say=lines.append, top=3)
    html = result.report_path.read_text()
    assert "Not shown" not in html
    assert any("generated agreement sentences" in line for line in lines)
