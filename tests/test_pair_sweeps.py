"""Ablation and patching on minimal-pair files (Marvin & Linzen, BLiMP): the hand-built
number unit is found by both scorings, whole-sentence scores under ablation equal a
weight-ablated model, and number twins give the interchange sources."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from rnnscope.agreement import ablation_sweep, load_wordpools
from rnnscope.agreement.minimal_pairs import read_pairs, score_pairs
from rnnscope.agreement.pair_sweeps import (agreement_items, number_twins, sentence_sweep,
                                            twin_patch_sweep)
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError
from rnnscope.interventions import ablate_outgoing
from tests.test_ablation import (LEMMA_UNIT, NUMBER_UNIT, na_vocab, number_unit_model,  # noqa: F401
                                 one_thread)

# subject nouns of both lemma halves of the hand-built model (boy, farmer: +1; officer, singer: -1)
NOUNS = [("boy", "boys"), ("farmer", "farmers"), ("officer", "officers"), ("singer", "singers")]


def _ml_templates() -> dict:
    """Marvin & Linzen's layout: {template: {condition: [[grammatical, ungrammatical], ...]}},
    agreement templates in sing_* / plur_* conditions, an NPI template of triples."""
    simple = {"sing_MS_MV": [[f"the {s} meets", f"the {s} meet"] for s, _ in NOUNS],
              "plur_MS_MV": [[f"the {p} meet", f"the {p} meets"] for _, p in NOUNS]}
    prep = {}
    for subj, (good, bad) in (("sing", ("likes", "like")), ("plur", ("like", "likes"))):
        nouns = [s if subj == "sing" else p for s, p in NOUNS]
        for attr, loc in (("sing", "car"), ("plur", "cars")):
            prep[f"{subj}_MS_MV_{attr}_ES"] = [[f"the {n} near the {loc} {good}",
                                                f"the {n} near the {loc} {bad}"] for n in nouns]
    npi = {"past": [["no boys that the guards like have ever been famous",
                     "the boys that no guards like have ever been famous",
                     "the boys that the guards like have ever been famous"]]}
    return {"simple_agrmt": simple, "prep_anim": prep, "npi_across_anim": npi}


def _blimp_record(good: str, bad: str, uid: str, one_prefix: bool, pair_id: int) -> dict:
    return {"sentence_good": good, "sentence_bad": bad, "field": "morphology",
            "linguistics_term": "subject_verb_agreement", "UID": uid, "simple_LM_method": True,
            "one_prefix_method": one_prefix, "two_prefix_method": not one_prefix,
            "lexically_identical": False, "pairID": str(pair_id)}


BLIMP = [
    _blimp_record("the boys meet the guard.", "the boys meets the guard.",
                  "regular_plural_subject_verb_agreement_1", True, 0),
    _blimp_record("the boy meets the guard.", "the boys meets the guard.",   # subject differs
                  "regular_plural_subject_verb_agreement_2", False, 0),
    _blimp_record("the boy meets the guard.", "meets the boy the guard.",    # word order
                  "regular_plural_subject_verb_agreement_1", True, 1),
    _blimp_record("the boy admires the guard.", "the boy admire the guard.",  # not in the vocab
                  "regular_plural_subject_verb_agreement_1", True, 2),
]


@pytest.fixture(scope="module")
def hand():
    pools = load_wordpools()
    vocab = na_vocab(pools)
    return vocab, number_unit_model(pools, vocab)


@pytest.fixture
def files(tmp_path):
    ml = tmp_path / "templates.json.gz"
    ml.write_bytes(gzip.compress(json.dumps(_ml_templates(), indent=1).encode()))
    blimp = tmp_path / "blimp"
    blimp.mkdir()
    (blimp / "agreement.jsonl").write_text("".join(json.dumps(r) + "\n" for r in BLIMP))
    return ml, blimp


def test_pairs_differing_in_one_word_become_na_items(hand, files):
    vocab, _ = hand
    ml, blimp = files
    pairs = read_pairs(ml) + read_pairs(blimp)  # format told by the name
    conv = agreement_items(pairs, vocab)
    assert conv.n_pairs == 8 + 16 + 1 + 4 and len(conv.items) == 8 + 16 + 1
    first = conv.items[0]
    assert (first.task, first.condition, first.prefix, first.correct, first.wrong) == \
        ("simple_agrmt", "sing_MS_MV", ("the", "boy"), "meets", "meet")
    prep = [it for it in conv.items if it.task == "prep_anim"][0]
    assert prep.prefix == ("the", "boy", "near", "the", "car") and prep.correct == "likes"
    bl = [it for it in conv.items if it.task.startswith("regular")][0]
    assert bl.prefix == ("the", "boys") and (bl.correct, bl.wrong) == ("meet", "meets")
    reasons = conv.skipped.set_index(["task", "item_id"])["reason"]
    assert reasons[("npi_across_anim", "npi_across_anim/past/0")].startswith("three sentences")
    assert "one_prefix_method is false" in reasons[("regular_plural_subject_verb_agreement_2", "0")]
    assert reasons[("regular_plural_subject_verb_agreement_1", "1")] == \
        "the sentences differ in several words"
    assert reasons[("regular_plural_subject_verb_agreement_1", "2")] == \
        "the differing word 'admires' is not in the vocabulary"
    assert "25 of 29" in conv.summary()[0]
    with pytest.raises(RnnscopeError, match="cannot tell the format"):
        read_pairs(ml.with_name("pairs.txt"))
    with pytest.raises(RnnscopeError, match="unknown minimal-pair format"):
        read_pairs(ml, "syntaxgym")


def test_word_scoring_sweep_finds_exactly_the_number_unit(hand, files):
    vocab, model = hand
    conv = agreement_items(read_pairs(files[0]), vocab)
    res = ablation_sweep(model, vocab, conv.items, mode="h", progress=False)
    assert (res.full.table["accuracy"] == 1.0).all()
    assert set(res.table.loc[res.table["drop"] > 10, "unit"]) == {NUMBER_UNIT}
    ablated = res.table[res.table["unit"] == NUMBER_UNIT]
    # the lemma unit decides without it: 2 of the 4 nouns per condition get the number right
    assert len(ablated) == 6 and np.allclose(ablated["accuracy"], 0.5)
    report = res.report()
    assert list(report.columns) == ["task", "condition", str(NUMBER_UNIT), "Full"]
    assert list(report["task"]).count("prep_anim") == 4


def test_sentence_scoring_equals_a_weight_ablated_model(hand, files):
    vocab, model = hand
    pairs = read_pairs(files[0])  # with the NPI triple: whole-sentence scoring keeps it
    units = [0, NUMBER_UNIT, LEMMA_UNIT]
    res = sentence_sweep(model, vocab, pairs, mode="h", units=units, progress=False)
    clean = score_pairs(model, vocab, pairs)
    np.testing.assert_array_equal(res.full.table["accuracy"], clean.table["accuracy"])
    assert res.full.table["n"].sum() == len(pairs) == 25

    def margins(result):
        it = result.items
        other = np.fmax(it["logp_2"], it["logp_3"]) if "logp_3" in it else it["logp_2"]
        return (it["logp_1"] - other).to_numpy()

    np.testing.assert_allclose(res.full.items["logp_margin"], margins(clean), atol=1e-4)
    for row, u in enumerate(units):  # holding h at 0 == zeroing the unit's outgoing weights
        expected = margins(score_pairs(ablate_outgoing(model, 1, [u]), vocab, pairs))
        np.testing.assert_allclose(res.diffs[row], expected, atol=1e-3)
    assert np.abs(res.diffs[1] - res.full.items["logp_margin"].to_numpy()).max() > 1.0
    flagged = set(res.table.loc[res.table["drop"] > 10, "unit"])
    assert NUMBER_UNIT in flagged and 0 not in flagged
    # one sentence per batch gives the same numbers as wide batches
    narrow = sentence_sweep(model, vocab, pairs, units=[NUMBER_UNIT], max_elements=1,
                            progress=False)
    np.testing.assert_allclose(narrow.diffs[0], res.diffs[1], atol=1e-4)


def test_number_twins_prefer_the_same_noun_and_patching_finds_the_unit(hand, files):
    vocab, model = hand
    conv = agreement_items(read_pairs(files[0]), vocab)
    twins = number_twins(conv.items)
    assert len(twins) == len(conv.items) == 24  # every agreement item has its twin
    for base, source in twins:
        assert (base.correct, base.wrong) == (source.wrong, source.correct)
        diff = [j for j, (a, b) in enumerate(zip(base.prefix, source.prefix)) if a != b]
        assert diff == [1]  # the subject, never the attractor: "the boy(s) near the car(s)"
        assert source.prefix[1].rstrip("s") == base.prefix[1].rstrip("s")  # boy <-> boys
    res = twin_patch_sweep(model, vocab, conv.items, mode="both", max_rows=64)
    top = res.top(2)
    assert top.loc[0, "unit"] == NUMBER_UNIT and top.loc[0, "flip_rate"] == 1.0
    assert res.table.loc[res.table["unit"] != NUMBER_UNIT, "flip_rate"].max() == 0.0
    assert set(res.pairs["task"]) == {"simple_agrmt", "prep_anim"}


def test_patching_blimp_alone_says_there_is_no_twin(hand, files):
    vocab, model = hand
    conv = agreement_items(read_pairs(files[1]), vocab)
    with pytest.raises(RnnscopeError, match="no minimal pair has a number twin"):
        twin_patch_sweep(model, vocab, conv.items)


def test_ablate_and_patch_cli_on_minimal_pairs(hand, files, tmp_path):
    vocab, model = hand
    save_model(model, vocab, tmp_path / "m")
    ml, blimp = files

    def run(*args):
        return CliRunner().invoke(main, [str(a) for a in args])

    r = run("ablate", tmp_path / "m", "--minimal-pairs", ml, "--minimal-pairs", blimp,
            "--out", tmp_path / "w")
    assert r.exit_code == 0, r.output
    assert "minimal pairs: 25 of 29 scored at the one word" in r.output
    assert "1 x three sentences" in r.output and "chance" not in r.output
    report = pd.read_csv(tmp_path / "w" / "ablation_report.csv")
    assert list(report.columns) == ["task", "condition", str(NUMBER_UNIT), "Full"]
    assert "npi_across_anim" not in set(report["task"])
    r = run("ablate", tmp_path / "m", "--minimal-pairs", ml, "--scoring", "sentence",
            "--out", tmp_path / "s")
    assert r.exit_code == 0, r.output
    assert "whole-sentence log-probability" in r.output
    sweep = pd.read_csv(tmp_path / "s" / "ablation_sweep.csv")
    assert "npi_across_anim" in set(sweep["task"])
    assert set(sweep.loc[sweep["drop"] > 10, "unit"]) >= {NUMBER_UNIT}
    r = run("patch", tmp_path / "m", "--minimal-pairs", ml, "--top", 3)
    assert r.exit_code == 0, r.output
    assert f"layer1.h:{NUMBER_UNIT}" in r.output.split("flips the verb choice")[1].splitlines()[2]
    r = run("patch", tmp_path / "m", "--minimal-pairs", blimp)
    assert r.exit_code == 2 and "no minimal pair has a number twin" in r.output
    r = run("ablate", tmp_path / "m", "--minimal-pairs", ml, "--tasks", "Simple")
    assert r.exit_code == 2 and "--minimal-pairs replaces the NA items" in r.output
    txt = tmp_path / "pairs.txt"
    txt.write_bytes(gzip.decompress(ml.read_bytes()))
    r = run("ablate", tmp_path / "m", "--minimal-pairs", txt)
    assert r.exit_code == 2 and "--format marvin-linzen" in r.output
    r = run("ablate", tmp_path / "m", "--minimal-pairs", txt, "--format", "marvin-linzen",
            "--subset", f"1:{NUMBER_UNIT}", "--n-random", 7)
    assert r.exit_code == 0, r.output
    assert "subset ablation" in r.output
