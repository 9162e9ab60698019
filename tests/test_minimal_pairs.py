"""Whole-sentence minimal pairs: scores equal a brute-force pass, readers of the published
formats (Marvin & Linzen JSON, BLiMP JSON lines, .gz), accuracy tables and the CLI."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from rnnscope.agreement.minimal_pairs import (MinimalPair, read_blimp, read_marvin_linzen,
                                              score_pairs, sentence_log_probs, tokenize)
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model

WORDS = ["the", "boy", "boys", "greets", "greet", "author", "authors", "laughs", "laugh", "no",
         "have", "ever", "been", "famous", "that", "guards", "like", "many", "girls", "insulted",
         "themselves", "herself", "."]
VOCAB = Vocabulary("word", WORDS)


def _model(prefer: str | None = None, bias: float = 10.0, seed: int = 0):
    model = tiny_model(vocab=len(VOCAB), hidden=8, emb=4, seed=seed)
    if prefer:
        with torch.no_grad():
            model.decoder.bias[VOCAB.stoi[prefer]] += bias
    return model


def brute_force(model, vocab, tokens: list[str]) -> float:
    """log p of every token and of the final <eos>, one sentence, one unbatched pass."""
    ids = vocab.encode(tokens)
    with torch.no_grad():
        scores, _ = model(torch.tensor([[vocab.eos_id] + ids]))
    logp = torch.log_softmax(scores, -1)[0]
    return float(sum(logp[t, i] for t, i in enumerate(ids + [vocab.eos_id])))


def test_tokenize_punctuation_and_case():
    assert tokenize("Many girls insulted themselves.", VOCAB) == ["Many", "girls", "insulted",
                                                                    "themselves", "."]
    assert tokenize("Many girls insulted themselves.", VOCAB, lower=True)[0] == "many"
    no_dot = Vocabulary("word", [w for w in WORDS if w != "."])
    assert tokenize("the boy greets .", no_dot) == ["the", "boy", "greets"]
    assert tokenize("the boy greets?!", no_dot) == ["the", "boy", "greets"]
    assert tokenize("the boy greets", VOCAB) == ["the", "boy", "greets"]


def test_scores_equal_brute_force_and_batching_changes_nothing():
    model = _model()
    sents = [["the", "boy", "greets"], ["the", "boys", "greet", "the", "boy"], ["boy"],
             ["the", "authors", "laugh", "."], ["the", "boy", "laughs"]]
    total, counts = sentence_log_probs(model, VOCAB, sents)
    expected = [brute_force(model, VOCAB, s) for s in sents]
    np.testing.assert_allclose(total, expected, atol=1e-4)
    assert counts.tolist() == [len(s) + 1 for s in sents]
    one_by_one, _ = sentence_log_probs(model, VOCAB, sents, max_elements=1)  # a batch per sentence
    np.testing.assert_allclose(one_by_one, total, atol=1e-4)


def test_the_sentence_with_the_preferred_word_wins():
    model = _model(prefer="greets")
    pairs = [MinimalPair("simple_agrmt", "sing_MS_MV", ("the boy greets", "the boy greet"), "1"),
             MinimalPair("simple_agrmt", "plur_MS_MV", ("the boys greet", "the boys greets"), "2")]
    res = score_pairs(model, VOCAB, pairs)
    assert res.items["correct"].tolist() == [True, False]
    for row, p in zip(res.items.itertuples(), pairs):
        assert row.logp_1 == pytest.approx(brute_force(model, VOCAB, p.sentences[0].split()), abs=1e-4)
        assert row.logp_2 == pytest.approx(brute_force(model, VOCAB, p.sentences[1].split()), abs=1e-4)
    assert res.table["accuracy"].tolist() == [1.0, 0.0]
    assert res.overall().set_index("task").loc["all", "accuracy"] == 0.5


def test_mean_per_token_can_reverse_the_total():
    """Many cheap tokens: lower total, higher mean log-probability than one costly token."""
    model = _model(prefer="boy")
    pair = [MinimalPair("t", "", ("the boy boy boy boy boy boy boy", "boy"), "1")]
    total = score_pairs(model, VOCAB, pair)
    mean = score_pairs(model, VOCAB, pair, mean=True)
    assert not total.items["correct"].iloc[0] and mean.items["correct"].iloc[0]
    row = mean.items.iloc[0]
    assert row["score_1"] == pytest.approx(row["logp_1"] / 9) and row["tokens_2"] == 2


ML = {
    "simple_agrmt": {"sing_MS_MV": [["the author laughs", "the author laugh"]],
                     "plur_MS_MV": [["the authors laugh", "the authors laughs"]]},
    "npi_across_anim": {"past": [["no authors that the guards like have ever been famous",
                                  "the authors that no guards like have ever been famous",
                                  "the authors that the guards like have ever been famous"]]},
}


def test_marvin_linzen_reader_and_triples(tmp_path):
    path = tmp_path / "templates.json.gz"
    path.write_bytes(gzip.compress(json.dumps(ML, indent=1).encode()))
    items = read_marvin_linzen(path)
    assert [(p.task, p.condition, len(p.sentences)) for p in items] == [
        ("simple_agrmt", "sing_MS_MV", 2), ("simple_agrmt", "plur_MS_MV", 2),
        ("npi_across_anim", "past", 3)]
    assert items[2].sentences[0].startswith("no authors")  # grammatical first
    res = score_pairs(_model(prefer="no", bias=6.0), VOCAB, items)
    t = res.table.set_index(["task", "condition"])
    npi = res.items.iloc[2]
    assert npi["correct"] == (npi["vs_2"] and npi["vs_3"] == 1.0)
    assert t.loc[("npi_across_anim", "past"), "vs_3"] == npi["vs_3"]
    assert np.isnan(t.loc[("simple_agrmt", "sing_MS_MV"), "vs_3"])
    assert npi["vs_2"] == (npi["score_1"] > npi["score_2"])


def test_marvin_linzen_errors_name_the_line(tmp_path):
    bad = {"simple_agrmt": {"sing": [["the author laughs", "the author laugh"],
                                     ["the boy greets"]]}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(bad, indent=1))
    with pytest.raises(RnnscopeError, match=r"t.json:9: simple_agrmt 'sing' item 1 must be"):
        read_marvin_linzen(path)
    path.write_text('{"simple_agrmt": {"sing": [\n["a", "b"],\n]}}')
    with pytest.raises(RnnscopeError, match=r"t.json:3: not valid JSON"):
        read_marvin_linzen(path)


BLIMP = [
    {"sentence_good": "Many girls insulted themselves.", "sentence_bad": "Many girls insulted herself.",
     "field": "morphology", "linguistics_term": "anaphor_agreement", "UID": "anaphor_gender_agreement",
     "simple_LM_method": True, "one_prefix_method": False, "two_prefix_method": False,
     "lexically_identical": False, "pairID": "0"},
    {"sentence_good": "The boys greet the author.", "sentence_bad": "The boys greets the author.",
     "field": "morphology", "linguistics_term": "subject_verb_agreement",
     "UID": "regular_plural_subject_verb_agreement_1", "simple_LM_method": True,
     "one_prefix_method": False, "two_prefix_method": False, "lexically_identical": False,
     "pairID": "7"},
]


def test_blimp_reader_file_directory_and_errors(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.jsonl.gz").write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in BLIMP[:1]) + "\n").encode()))
    (d / "b.jsonl").write_text(json.dumps(BLIMP[1]) + "\n")
    items = read_blimp(d)
    assert [(p.task, p.condition, p.item_id) for p in items] == [
        ("anaphor_gender_agreement", "anaphor_agreement", "0"),
        ("regular_plural_subject_verb_agreement_1", "subject_verb_agreement", "7")]
    assert items[0].extra["field"] == "morphology" and items[0].source.endswith("a.jsonl.gz:1")
    (d / "b.jsonl").write_text(json.dumps(BLIMP[1]) + "\n" + json.dumps({"sentence_good": "x"}) + "\n")
    with pytest.raises(RnnscopeError, match=r"b.jsonl:2: missing 'sentence_bad'"):
        read_blimp(d / "b.jsonl")


def test_blimp_on_a_lowercased_vocabulary_has_no_unknown_words():
    items = [MinimalPair(r["UID"], r["linguistics_term"], (r["sentence_good"], r["sentence_bad"]),
                         r["pairID"]) for r in BLIMP]
    res = score_pairs(_model(), VOCAB, items)
    assert "lowercased" in res.case_note and res.unk_share == 0.0
    assert res.items["tokens_1"].tolist() == [6, 7]  # 4 or 5 words + "." + <eos>
    kept = score_pairs(_model(), VOCAB, items, case="keep")
    assert kept.unknown == {"Many": 2, "The": 2} and kept.unk_share == pytest.approx(4 / 22)


def test_cli_scores_both_formats(tmp_path):
    save_model(_model(prefer="greet", bias=4.0), VOCAB, tmp_path / "m")
    ml = tmp_path / "ml.json.gz"
    ml.write_bytes(gzip.compress(json.dumps(ML).encode()))
    bl = tmp_path / "blimp.jsonl.gz"
    bl.write_bytes(gzip.compress(("\n".join(json.dumps(r) for r in BLIMP) + "\n").encode()))
    out = CliRunner().invoke(main, ["minimal-pairs", str(tmp_path / "m"), "--marvin-linzen", str(ml),
                                    "--blimp", str(bl), "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert "unknown words: 0 of" in out.output and "case: sentences lowercased" in out.output
    table = pd.read_csv(tmp_path / "o" / "minimal_pairs.csv")
    assert list(table["task"]) == ["simple_agrmt", "simple_agrmt", "npi_across_anim",
                                   "anaphor_gender_agreement", "regular_plural_subject_verb_agreement_1"]
    items = pd.read_csv(tmp_path / "o" / "minimal_pairs_items.csv")
    assert table["accuracy"].tolist() == (100 * items["correct"].astype(float)).tolist()
    mean = CliRunner().invoke(main, ["minimal-pairs", str(tmp_path / "m"), "--blimp", str(bl), "--mean"])
    assert mean.exit_code == 0 and "mean log-probability per token" in mean.output
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    bad = CliRunner().invoke(main, ["minimal-pairs", str(tmp_path / "m"), "--blimp",
                                    str(tmp_path / "bad.jsonl")])
    assert bad.exit_code == 2 and bad.output.strip().startswith("error:") and "bad.jsonl:1" in bad.output
    none = CliRunner().invoke(main, ["minimal-pairs", str(tmp_path / "m")])
    assert none.exit_code == 2 and "give --marvin-linzen" in none.output
