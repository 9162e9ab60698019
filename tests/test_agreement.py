"""NA-task generator, file readers, and scoring with bad input."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from rnnscope.agreement import (CONDITIONS, TASKS, generate, load_wordpools, read_gulordava,
                                read_lakretz, read_linzen, score, write_lakretz)
from rnnscope.agreement.tasks import canonical_task
from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model
from tests.test_ablation import na_vocab, number_unit_model, one_thread  # noqa: F401


def test_generator_counts_conditions_and_seed():
    items = generate()
    counts = Counter((it.task, it.condition) for it in items)
    assert sorted(counts) == sorted((t, c) for t in TASKS for c in CONDITIONS[t])
    assert len(counts) == 18 and set(counts.values()) == {600}
    assert generate(["NounPP"], n=5, seed=3) == generate(["NounPP"], n=5, seed=3)
    assert generate(["NounPP"], n=5, seed=3) != generate(["NounPP"], n=5, seed=4)
    # frames are distinct while the pools allow (NounPP: 20*15*5*10 combinations)
    frames = {(it.prefix, it.correct) for it in items if it.task == "NounPP" and it.condition == "SS"}
    assert len(frames) == 600


def test_generator_word_orders_and_numbers():
    pools = load_wordpools()
    sing = {s for s, _ in pools["nouns"] + pools["location_nouns"]}
    plur = {p for _, p in pools["nouns"] + pools["location_nouns"]}
    verbs_s = {s for s, _ in pools["verbs"]}
    items = generate(n=20, seed=0)
    shapes = {"Simple": ["det", "subj"], "Adv": ["det", "subj", "adv"],
              "2Adv": ["det", "subj", "mod", "adv"], "CoAdv": ["det", "subj", "adv", "and", "adv2"],
              "NamePP": ["det", "subj", "prep", "name"],
              "NounPP": ["det", "subj", "prep", "det2", "attr"],
              "NounPPAdv": ["det", "subj", "prep", "det2", "attr", "adv"]}
    for it in items:
        assert list(it.labels) == shapes[it.task]
        words = dict(zip(it.labels, it.prefix))
        assert words["det"] == "The"
        assert (words["subj"] in sing) == (it.condition[0] == "S")
        assert (words["subj"] in plur) == (it.condition[0] == "P")
        assert (it.correct in verbs_s) == (it.condition[0] == "S")
        assert {it.correct, it.wrong} in [set(v) for v in pools["verbs"]]
        if "attr" in words:
            assert (words["attr"] in sing) == (it.condition[1] == "S")
        if it.task == "CoAdv":
            assert words["adv"] != words["adv2"] and words["and"] == "and"
        if it.task == "NamePP":
            assert words["name"] in pools["names"]
    # conditions of one frame share every word except the numbered ones
    ss, ps = [[it for it in items if it.item_id == "NounPP-0" and it.condition == c][0]
              for c in ("SS", "PS")]
    assert ss.prefix[2:] == ps.prefix[2:] and ss.prefix[1] != ps.prefix[1]
    rel = generate(["SubjRel", "DoubleSubjRel"], n=3, capitalize=False)
    double = [it for it in rel if it.task == "DoubleSubjRel" and it.condition == "PS"][0]
    assert double.prefix[0] == "the" and len(double.prefix) == 10
    assert double.prefix[2] == "that" and double.prefix[6] == "that"


def test_generator_bad_input(tmp_path):
    with pytest.raises(RnnscopeError, match="at least 1"):
        generate(n=0)
    with pytest.raises(RnnscopeError, match="unknown NA task"):
        canonical_task("NounRC")
    assert canonical_task("nounppadv") == "NounPPAdv"
    pools = load_wordpools()
    pools["names"] = []
    path = tmp_path / "pools.json"
    path.write_text(json.dumps(pools))
    with pytest.raises(RnnscopeError, match="'names' is missing or empty"):
        load_wordpools(path)


def test_lakretz_roundtrip_and_errors(tmp_path):
    items = generate(["NounPP"], n=3, seed=1)
    path = write_lakretz(items, tmp_path / "nounpp.txt")
    lines = path.read_text().splitlines()
    assert len(lines) == 24 and lines[0].split("\t")[1] == "singular_singular"
    back = read_lakretz(path)
    assert [(b.prefix, b.correct, b.wrong, b.condition) for b in back] == \
        [(i.prefix, i.correct, i.wrong, i.condition) for i in items]
    assert back[0].task == "nounpp" and back[0].source.endswith("nounpp.txt:1")
    bad = tmp_path / "bad.txt"
    bad.write_text("The boy greets\tsingular\tcorrect\t1\nThe boy greet\t\twrong\t1\n")
    with pytest.raises(RnnscopeError, match=r"bad.txt:2: condition ''"):
        read_lakretz(bad)
    bad.write_text("The boy greets\tsingular\tcorrect\t1\n")
    with pytest.raises(RnnscopeError, match="has no 'wrong' line"):
        read_lakretz(bad)
    bad.write_text("The boy greets\tsingular\tcorrect\t1\nThe boys greet\tsingular\twrong\t1\n")
    with pytest.raises(RnnscopeError, match="bad.txt:2: item '1' differs"):
        read_lakretz(bad)


def test_linzen_reader(tmp_path):
    (tmp_path / "s.text").write_text("the keys to the cabinet are on the table <eos>\n"
                                     "the dog runs <eos>\n")
    (tmp_path / "s.gold").write_text("5\tare\tis\t1\n2\truns\trun\t0\n")
    items = read_linzen(tmp_path / "s.text")
    assert items[0].prefix == ("the", "keys", "to", "the", "cabinet")
    assert (items[0].correct, items[0].wrong, items[0].condition) == ("are", "is", "1")
    assert items[1].prefix == ("the", "dog") and items[1].condition == "0"
    (tmp_path / "s.gold").write_text("5\tare\tis\t1\n7\truns\trun\t0\n")
    with pytest.raises(RnnscopeError, match=r"s.gold:2: target index 7 is outside the sentence"):
        read_linzen(tmp_path / "s.text")
    (tmp_path / "s.gold").write_text("5\tare\tis\t1\n")
    with pytest.raises(RnnscopeError, match="line-aligned"):
        read_linzen(tmp_path / "s.text")


def test_gulordava_reader_scores_prefix_only(tmp_path):
    gold = ["PAT\t0\t0\t3\tVERB\tNumber=Plur\tare\tis\tbe\t1\tNOUN\tthe keys to are",
            "PAT\t0\t4\t3\tVERB\tNumber=Plur\tare\tis\tbe\t1\tNOUN\tthe pens of sleep"]
    (tmp_path / "generated.text").write_text("the keys to are here <eos>\nthe pens of sleep here <eos>\n")
    (tmp_path / "generated.gold").write_text("\n".join(gold) + "\n")
    items = read_gulordava(tmp_path / "generated.text")
    assert [it.condition for it in items] == ["original", "nonce"]
    assert items[1].prefix == ("the", "pens", "of") and items[1].correct == "are"
    assert items[1].extra["variant"] == 4 and items[0].task == "PAT"
    (tmp_path / "generated.gold").write_text(gold[0] + "\n" + gold[1].replace("\t3\t", "\t9\t", 1) + "\n")
    with pytest.raises(RnnscopeError, match="generated.gold:2: target index 9"):
        read_gulordava(tmp_path / "generated.text")


def test_score_reports_missing_verbs_and_empty_conditions():
    pools = load_wordpools()
    vocab = na_vocab(pools)
    items = generate(["Simple", "NounPP"], n=10, seed=0)
    res = score(number_unit_model(pools, vocab), vocab, items)
    assert res.skipped.empty and (res.table["n"] == 10).all()
    # a vocabulary without "meets"/"meet": those items are listed, never scored
    small = Vocabulary("word", [w for w in vocab.itos if w not in ("meets", "meet")])
    model = tiny_model("lstm", layers=1, hidden=8, vocab=len(small), emb=8, seed=0)
    missing = [it for it in items if it.correct in ("meets", "meet")]
    assert missing, "the fixture needs items with the removed verb"
    res2 = score(model, small, items)
    assert len(res2.skipped) == len(missing)
    assert set(res2.skipped["reason"]) <= {"verb form 'meets' is not in the vocabulary",
                                           "verb form 'meet' is not in the vocabulary"}
    assert set(res2.skipped["item_id"]) == {it.item_id for it in missing}
    assert res2.table["n"].sum() == len(items) - len(missing)
    assert not set(res2.items["item_id"] + res2.items["condition"]) & \
        {it.item_id + it.condition for it in missing}
    # a condition whose items are all skipped is shown empty and warned about, not dropped
    simple_missing = [it for it in missing if it.task == "Simple"]
    assert simple_missing
    res3 = score(model, small, simple_missing + [it for it in items if it.task == "NounPP"])
    empty = res3.table[res3.table["task"] == "Simple"]
    assert len(empty) >= 1 and (empty["n"] == 0).all() and empty["accuracy"].isna().all()
    assert any("Simple" in w for w in res3.warnings)
    with pytest.raises(RnnscopeError, match="no item can be scored"):
        score(model, small, simple_missing)
    with pytest.raises(RnnscopeError, match="no agreement items"):
        score(model, small, [])


def test_score_word_level_only():
    with pytest.raises(RnnscopeError, match="word-level"):
        score(tiny_model(vocab=258), Vocabulary.bytes(), generate(["Simple"], n=1))
