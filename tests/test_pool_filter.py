"""Word pools fitted to a training text (rnnscope.agreement.pool_filter, `rnnscope wordpools`)."""
from __future__ import annotations

import gzip
import json
from collections import Counter

import pandas as pd
import pytest
from click.testing import CliRunner

from rnnscope.agreement import generate, load_wordpools
from rnnscope.agreement.pool_filter import filter_pools, text_counts, treebank_tags
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError


def _pools() -> dict:
    pools = load_wordpools()
    pools["verbs"] = [["runs", "run"], ["eats", "eat"], ["likes", "like"], ["sees", "see"]]
    pools["nouns"] = [["dog", "dogs"], ["cat", "cats"], ["owl", "owls"]]
    return pools


def _conllu(rows: list[tuple[str, str]]) -> str:
    lines = [f"{i}\t{w}\t{w}\t{t}\t_\t_\t{0 if i == 1 else 1}\t{'root' if i == 1 else 'dep'}\t_\t_"
             for i, (w, t) in enumerate(rows, 1)]
    return "# sent_id = 1\n# text = x\n" + "\n".join(lines) + "\n\n"


def test_rare_forms_and_non_verbs_are_dropped_with_reasons():
    pools = _pools()
    counts = Counter({w: 50 for k in ("verbs", "nouns", "location_nouns")
                      for pair in pools[k] for w in pair})
    counts["eats"] = 4     # rare singular form
    counts["owls"] = 19    # one short of min_count
    tags = {"like": Counter(ADP=8, VERB=2), "likes": Counter(VERB=5),
            "sees": Counter(NOUN=1, VERB=1)}   # 2 tagged uses < min_tagged: not judged
    kept, report = filter_pools(pools, counts, min_count=20, tags=tags, min_verb_share=0.9)
    assert kept["verbs"] == [["runs", "run"], ["sees", "see"]]
    assert kept["nouns"] == [["dog", "dogs"], ["cat", "cats"]]
    assert kept["adverbs"] == pools["adverbs"] and "_about" not in kept
    why = report.set_index("singular")["reason"]
    assert why["eats"] == "'eats' occurs 4 times (< 20)"
    assert why["likes"] == "'like' is a verb in 20% of its treebank uses (< 90%)"
    assert why["owl"] == "'owls' occurs 19 times (< 20)"
    assert pd.isna(report.set_index("singular").loc["sees", "verb_share_singular"])
    # the filtered pools drive the generator: only the kept verbs and nouns appear
    items = generate(["Simple"], n=30, seed=0, pools=kept)
    assert {it.correct for it in items} <= {"runs", "run", "sees", "see"}
    assert {it.prefix[1] for it in items} <= {"dog", "dogs", "cat", "cats"}
    # without a treebank only counts matter: "likes" comes back
    kept2, _ = filter_pools(pools, counts, min_count=20)
    assert ["likes", "like"] in kept2["verbs"]


def test_bad_settings_and_emptied_pools_are_refused():
    pools = _pools()
    counts = Counter({"runs": 100, "run": 100})
    with pytest.raises(RnnscopeError, match="only 1 of the 4 verbs pairs pass"):
        filter_pools(pools, counts, min_count=20)
    with pytest.raises(RnnscopeError, match="min_count"):
        filter_pools(pools, counts, min_count=0)
    with pytest.raises(RnnscopeError, match="min_verb_share"):
        filter_pools(pools, counts, min_verb_share=1.5)


def test_counts_and_tags_from_files(tmp_path):
    (tmp_path / "a.txt").write_text("The dog runs\nthe dogs run\n")
    with gzip.open(tmp_path / "b.txt.gz", "wt") as f:
        f.write("the dog runs\n")
    c = text_counts([tmp_path / "a.txt", tmp_path / "b.txt.gz"], lowercase=True)
    assert c["the"] == 3 and c["runs"] == 2 and c["dogs"] == 1
    assert text_counts([tmp_path / "a.txt"])["The"] == 1
    with pytest.raises(RnnscopeError, match="corpus not found"):
        text_counts([tmp_path / "nope.txt"])
    (tmp_path / "t.conllu").write_text(_conllu([("Like", "ADP"), ("dogs", "NOUN"), ("like", "VERB")]))
    tags = treebank_tags([tmp_path / "t.conllu"], ["like", "runs"])
    assert tags == {"like": Counter(ADP=1, VERB=1)}
    assert text_counts([tmp_path / "t.conllu"], lowercase=True) == Counter(like=2, dogs=1)


def test_cli_writes_pools_the_agreement_command_reads(tmp_path):
    pools = _pools()
    src = tmp_path / "pools.json"
    src.write_text(json.dumps(pools))
    words = [w for k in ("verbs", "nouns", "location_nouns") for pair in pools[k] for w in pair
             if w != "eats"]
    (tmp_path / "train.txt").write_text((" ".join(words) + "\n") * 25)
    (tmp_path / "tb.conllu").write_text(_conllu([("like", "ADP")] * 4))
    out = tmp_path / "fitted.json"
    res = CliRunner().invoke(main, ["wordpools", "--corpus", str(tmp_path / "train.txt"),
                                    "--treebank", str(tmp_path / "tb.conllu"), "--wordpools",
                                    str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    written = json.loads(out.read_text())
    assert written["verbs"] == [["runs", "run"], ["sees", "see"]]
    assert "2 of 4 verbs" in written["_about"] and "rnnscope wordpools" in written["_about"]
    assert "'eats' occurs 0 times" in res.output
    assert load_wordpools(out)["verbs"] == written["verbs"]
    bad = CliRunner().invoke(main, ["wordpools", "--corpus", str(tmp_path / "train.txt"),
                                    "--wordpools", str(src), "--min-count", "1000",
                                    "--out", str(tmp_path / "x.json")])
    assert bad.exit_code == 2 and "lower --min-count" in bad.output
