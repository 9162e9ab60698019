"""Agreement per verb (rnnscope.agreement.lexical): a planted lexical bias is found."""
from __future__ import annotations

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from rnnscope.agreement import generate, load_wordpools, score
from rnnscope.agreement.lexical import by_verb, plural_wins, subject_number
from tests.test_ablation import na_vocab, number_unit_model, one_thread  # noqa: F401


def test_planted_bias_on_one_verb_is_found_and_nothing_else_moves(one_thread):  # noqa: F811
    pools = load_wordpools()
    vocab = na_vocab(pools)
    items = generate(["Simple", "NounPP"], n=60, seed=0)
    model = number_unit_model(pools, vocab)
    clean = score(model, vocab, items)
    base = by_verb(clean.items).set_index("singular")
    assert (base[["accuracy_S", "accuracy_P"]] == 100).all().all()
    assert clean.plural_wins() == pytest.approx(0.5)
    # a large output bias toward "like": every singular-subject item of likes/like now fails
    with torch.no_grad():
        model.decoder.bias[vocab.stoi["like"]] += 50.0
    res = score(model, vocab, items)
    table = res.by_verb()
    top = table.iloc[0]
    assert (top["singular"], top["plural"]) == ("likes", "like")
    assert top["accuracy_S"] == 0 and top["accuracy_P"] == 100 and top["plural_wins"] == 100
    rest = table.iloc[1:].set_index("singular")
    assert (rest[["accuracy_S", "accuracy_P"]] == 100).all().all()
    assert (rest["plural_wins"] == 50).all()
    # counts add up to the scored items, and the overall share moves by exactly those items
    assert table["n_S"].sum() + table["n_P"].sum() == len(res.items)
    n_like_s = int(top["n_S"])
    assert res.plural_wins() == pytest.approx(0.5 + n_like_s / len(res.items))


def test_conditions_without_subject_number_are_left_out():
    items = pd.DataFrame({
        "condition": ["S", "P", "SP", "original", "2"],
        "correct_form": ["runs", "run", "runs", "runs", "run"],
        "wrong_form": ["run", "runs", "run", "run", "runs"],
        "is_correct": [True, False, False, True, True],
    })
    assert subject_number(items["condition"]).tolist()[:3] == ["S", "P", "S"]
    assert subject_number(items["condition"])[3:].isna().all()
    t = by_verb(items)
    assert t.attrs["rows_left_out"] == 2 and len(t) == 1
    row = t.iloc[0]
    assert (row["singular"], row["plural"], row["n_S"], row["n_P"]) == ("runs", "run", 2, 1)
    assert row["accuracy_S"] == 50 and row["accuracy_P"] == 0
    # plural won: S wrong (SP item), P wrong -> singular won, S right -> singular won
    assert row["plural_wins"] == pytest.approx(100 / 3)
    assert plural_wins(items) == pytest.approx(1 / 3)
    assert plural_wins(items.iloc[3:]) != plural_wins(items.iloc[3:])  # NaN: nothing to count


def test_cli_by_verb_prints_table_and_writes_files(tmp_path, one_thread):  # noqa: F811
    from rnnscope.checkpoint import save_model
    from rnnscope.cli import main

    pools = load_wordpools()
    vocab = na_vocab(pools)
    model = number_unit_model(pools, vocab)
    with torch.no_grad():
        model.decoder.bias[vocab.stoi["watch"]] += 50.0
    save_model(model, vocab, tmp_path / "m")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["agreement", "--model", str(tmp_path / "m"), "--tasks",
                                    "Simple", "--n", "40", "--by-verb", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "the plural form wins in" in res.output
    table = pd.read_csv(out / "agreement_by_verb.csv")
    assert table.iloc[0]["singular"] == "watches" and table.iloc[0]["accuracy_S"] == 0
    assert (out / "agreement_by_verb.png").stat().st_size > 0
    plain = CliRunner().invoke(main, ["agreement", "--model", str(tmp_path / "m"), "--tasks",
                                      "Simple", "--n", "40"])
    assert "per verb: --by-verb" in plain.output and "plural_wins" not in plain.output
