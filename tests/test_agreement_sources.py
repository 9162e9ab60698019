"""load_items / load_pairs: every source of agreement items in one library call."""
from __future__ import annotations

import json

from rnnscope.agreement import generate
from rnnscope.agreement.formats import write_lakretz
from rnnscope.agreement.sources import load_items, load_pairs
from rnnscope.vocab import Vocabulary

LOWER = Vocabulary.build("word", ["the boy greets the girl near the car"])


def test_generated_tasks_by_default_and_cased_for_the_vocabulary():
    items, note = load_items(LOWER, n=3)
    assert {it.task for it in items} >= {"Simple", "NounPP"} and len(items) > 20
    assert all(w == w.lower() for it in items for w in it.prefix)
    assert "lowercas" in note
    kept, _ = load_items(LOWER, tasks=["Simple"], n=3, case="keep")
    assert {it.task for it in kept} == {"Simple"} and kept[0].prefix[0] == "The"


def test_a_file_replaces_the_generated_tasks_unless_tasks_are_asked_for(tmp_path):
    path = write_lakretz(generate(["NounPP"], n=2, seed=1), tmp_path / "nounpp.txt")
    only, _ = load_items(LOWER, lakretz=[str(path)])
    assert len(only) == 8 and {it.task for it in only} == {"nounpp"}  # no generated items
    assert {it.condition for it in only} == {"SS", "SP", "PS", "PP"}
    both, _ = load_items(LOWER, tasks=["Simple"], n=2, lakretz=[str(path)])
    assert len(both) == len(only) + 4


def test_minimal_pairs_from_a_marvin_linzen_file(tmp_path):
    data = {"simple_agrmt": {"sing": [["The author laughs .", "The author laugh ."]]}}
    (tmp_path / "ml.json").write_text(json.dumps(data))
    pairs, note = load_pairs([str(tmp_path / "ml.json")], LOWER)
    assert len(pairs) == 1 and pairs[0].sentences[0] == "the author laughs ."
    assert note
