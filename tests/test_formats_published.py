"""The published agreement and syntax files, read as they come (hand-written fixtures in each
format, with their quirks): Lakretz NA tasks and nounpp stimuli, the depth file, Gulordava."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from rnnscope.agreement import score
from rnnscope.agreement.formats import (PUBLISHED_LABELS, gulordava_summary, read_gulordava,
                                        read_lakretz, read_lakretz_files, read_lakretz_stimuli,
                                        task_names)
from rnnscope.agreement.syntax_units import (generate_depth_dataset, open_nodes, parse_brackets,
                                             read_depth_file)
from rnnscope.agreement.tasks import INCONGRUENT
from rnnscope.checkpoint import save_model
from rnnscope.cli import main
from rnnscope.errors import RnnscopeError
from rnnscope.vocab import Vocabulary
from tests.conftest import tiny_model

# -- Lakretz NA-task files ----------------------------------------------------------------------
NAMEPP = ("The athlete above Bill discourages\tsingular\tcorrect\tid1\n"
          "The athlete above Bill discourage\tsingular\twrong\tid1\n"
          "The athletes above Bill discourage\tplural\tcorrect\tid2\n"
          "The athletes above Bill discourages\tplural\twrong\tid2\n")

#: Table 2 of Lakretz et al. (2019), transcribed: the conditions reported per task, and the
#: incongruent ones ("the number-mismatch conditions of namePP, nounPP and nounPPAdv").
TABLE2 = {"Simple": {"S", "P"}, "Adv": {"S", "P"}, "2Adv": {"S", "P"}, "CoAdv": {"S", "P"},
          "NamePP": {"SS", "PS"}, "NounPP": {"SS", "SP", "PS", "PP"},
          "NounPPAdv": {"SS", "SP", "PS", "PP"}}
TABLE2_INCONGRUENT = {("NamePP", "PS"), ("NounPP", "SP"), ("NounPP", "PS"),
                      ("NounPPAdv", "SP"), ("NounPPAdv", "PS")}


def test_published_labels_match_table2_of_the_paper():
    for task, conds in TABLE2.items():
        assert set(PUBLISHED_LABELS[task].values()) == conds, task
    incongruent = {(t, c) for t in TABLE2 for c in set(PUBLISHED_LABELS[t].values()) if c in INCONGRUENT}
    assert incongruent == TABLE2_INCONGRUENT


def test_namepp_plural_subject_is_the_incongruent_ps(tmp_path):
    (tmp_path / "namepp.txt").write_text(NAMEPP)
    items = read_lakretz(tmp_path / "namepp.txt")
    assert [(it.condition, it.incongruent) for it in items] == [("SS", False), ("PS", True)]
    assert items[1].prefix == ("The", "athletes", "above", "Bill")
    assert (items[1].correct, items[1].wrong) == ("discourage", "discourages")
    assert items[1].extra["label"] == "plural" and items[1].extra["paper_task"] == "NamePP"
    # the agreement table flags PS as incongruent
    vocab = Vocabulary("word", sorted({w for ln in NAMEPP.splitlines() for w in ln.split("\t")[0].split()}))
    table = score(tiny_model(vocab=len(vocab), hidden=8, emb=4), vocab, items).table
    assert list(zip(table["condition"], table["incongruent"])) == [("SS", False), ("PS", True)]
    # a plural proper name cannot occur in NamePP
    (tmp_path / "namepp.txt").write_text(NAMEPP.replace("\tplural\twrong", "\tsingular_plural\twrong"))
    with pytest.raises(RnnscopeError, match=r"namepp.txt:4: condition 'singular_plural' does not "
                                            r"occur in NamePP"):
        read_lakretz(tmp_path / "namepp.txt")


def test_nounpp_adv_and_simple_labels(tmp_path):
    (tmp_path / "nounpp_adv.txt.gz").write_bytes(gzip.compress(
        b"The mother near the bikes probably discourages\tsingular_plural\tcorrect\tid7\n"
        b"The mother near the bikes probably discourage\tsingular_plural\twrong\tid7\n"))
    it, = read_lakretz(tmp_path / "nounpp_adv.txt.gz")
    assert (it.task, it.condition, it.incongruent) == ("nounpp_adv", "SP", True)
    (tmp_path / "adv_adv.txt").write_text("The boys most probably greet\tplural\tcorrect\t1\n"
                                          "The boys most probably greets\tplural\twrong\t1\n")
    it, = read_lakretz(tmp_path / "adv_adv.txt")
    assert (it.condition, it.incongruent, it.extra["paper_task"]) == ("P", False, "2Adv")


# -- the earlier nounpp stimulus set (5 columns + .text/.gold) -----------------------------------
STIMULI_TXT = ("nounpp\tThe athlete behind the bike observes\tsingular\tsingular\tobserve\n"
               "nounpp\tThe athlete behind the bikes observes\tsingular\tplural\tobserve\n"
               "nounpp\tThe athletes behind the bike observe\tplural\tsingular\tobserves\n"
               "nounpp\tThe athletes behind the bikes observe\tplural\tplural\tobserves\n")
STIMULI_TEXT = "".join(ln.split("\t")[1] + "\n" for ln in STIMULI_TXT.splitlines())
STIMULI_GOLD = ("5\tobserves\tobserve\t-999\n5\tobserves\tobserve\t-999\n"
                "5\tobserve\tobserves\t-999\n5\tobserve\tobserves\t-999\n")


def _write_stimuli(folder, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("nounpp.txt", STIMULI_TXT), ("nounpp.text", STIMULI_TEXT),
                       ("nounpp.gold", STIMULI_GOLD)):
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / name).write_text(text)


def test_nounpp_stimuli_five_columns_with_text_gold_pair(tmp_path):
    _write_stimuli(tmp_path)
    items = read_lakretz(tmp_path / "nounpp.txt")  # recognised by its 5 columns
    assert [it.condition for it in items] == ["SS", "SP", "PS", "PP"]
    assert [it.incongruent for it in items] == [False, True, True, False]
    assert items[2].prefix == ("The", "athletes", "behind", "the", "bike")
    assert (items[2].correct, items[2].wrong) == ("observe", "observes")
    assert items[0].source.endswith("nounpp.txt:1") and items[0].task == "nounpp"
    from_text = read_lakretz_stimuli(tmp_path / "nounpp.text")  # the pair's .text finds the .txt
    assert [(i.prefix, i.correct, i.wrong, i.condition) for i in from_text] == \
        [(i.prefix, i.correct, i.wrong, i.condition) for i in items]
    (tmp_path / "nounpp.gold").write_text(STIMULI_GOLD.replace("5\tobserve\tobserves\t-999\n",
                                                               "4\tobserve\tobserves\t-999\n", 1))
    with pytest.raises(RnnscopeError, match=r"nounpp.gold:3: target 4 .* disagrees with .*nounpp.txt:3"):
        read_lakretz(tmp_path / "nounpp.txt")
    (tmp_path / "bad.txt").write_text("nounpp\tThe boy greets\tsingular\tsingular\tgreet\n"
                                      "nounpp\tThe boys greet\tplural\tgreets\n")
    with pytest.raises(RnnscopeError, match=r"bad.txt:2: expected 5 tab-separated columns"):
        read_lakretz(tmp_path / "bad.txt")


def test_nounpp_stimuli_gzipped(tmp_path):
    _write_stimuli(tmp_path, gz=True)
    items = read_lakretz(tmp_path / "nounpp.txt.gz")
    assert [it.condition for it in items] == ["SS", "SP", "PS", "PP"]
    assert read_lakretz_stimuli(tmp_path / "nounpp.text.gz")[1].prefix[-1] == "bikes"


def test_two_files_of_the_same_name_are_two_tasks(tmp_path):
    _write_stimuli(tmp_path / "Data" / "Stimuli")
    (tmp_path / "datasets" / "NA_tasks").mkdir(parents=True)
    na = tmp_path / "datasets" / "NA_tasks" / "nounpp.txt"
    na.write_text("The athlete behind the bikes observes\tsingular_plural\tcorrect\tid1\n"
                  "The athlete behind the bikes observe\tsingular_plural\twrong\tid1\n")
    paths = [tmp_path / "Data" / "Stimuli" / "nounpp.txt", na]
    assert task_names(paths) == ["Stimuli/nounpp", "NA_tasks/nounpp"]
    items = read_lakretz_files(paths)
    assert [it.task for it in items] == ["Stimuli/nounpp"] * 4 + ["NA_tasks/nounpp"]
    assert task_names([tmp_path / "a.txt", tmp_path / "b.txt"]) == ["a", "b"]
    same_folder = task_names([tmp_path / "x.txt", tmp_path / "x.txt.gz"])
    assert len(set(same_folder)) == 2
    with pytest.raises(RnnscopeError, match="given twice"):
        task_names([na, na])
    # the CLI keeps them apart too
    words = sorted({w for it in items for w in (*it.prefix, it.correct, it.wrong)})
    vocab = Vocabulary("word", words)
    save_model(tiny_model(vocab=len(vocab), hidden=8, emb=4), vocab, tmp_path / "m")
    out = CliRunner().invoke(main, ["agreement", str(tmp_path / "m"), *sum(
        (["--lakretz", str(p)] for p in paths), []), "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    table = pd.read_csv(tmp_path / "o" / "agreement.csv")
    assert list(zip(table["task"], table["condition"], table["n"])) == [
        ("Stimuli/nounpp", "SS", 1), ("Stimuli/nounpp", "SP", 1), ("Stimuli/nounpp", "PS", 1),
        ("Stimuli/nounpp", "PP", 1), ("NA_tasks/nounpp", "SP", 1)]


# -- the syntactic-depth file -------------------------------------------------------------------
DEPTH = [
    "The boy greets the guy | [_S [_DP [_D the ] [_N boy ] ] [_VP [_V greets ] [_DP [_D the ] "
    "[_N guy ] ] ] ] | 1 2 2 3 4 | 0 2 1 0 3\\n'",
    "The boys greet the guys | [_S [_DP [_D the ] [_N boys ] ] [_VP [_V greet ] [_DP [_D the ] "
    "[_N guys ] ] ] ] | 1 2 2 3 4 | 0 2 1 0 3\\n'",
    "John greets the guy | [_S [_Name John ] [_VP [_V greets ] [_DP [_D the ] [_N guy ] ] ] ] "
    "| 1 2 3 4 | 1 1 0 3\\n'",
    "The very happy boy smiles | [_S [_DP [_D the ] [_NP [_AdjP [_Degree very ] [_Adj happy ] ] "
    "[_N boy ] ] ] [_VP [_Vintr smiles ] ] ] | 1 2 3 3 2 | 2 0 1 3 2\\n'",
    "The boy near the car smiles | [_S [_DP [_D the ] [_NPPP [_Nsubj boy ] [_PP [_P near ] "
    "[_DPloc [_D the ] [_Nloc car ] ] ] ] ] [_Vintr smiles ] ] | 1 2 3 4 5 2 | 1 1 1 0 4 1\\n'",
    "The old boy smiles | [_S [_DP [_D the ] [_NP [_Adj old ] [_N boy ] ] ] [_Vintr smiles ] ] "
    "| 1 2 3 2 | 1 0 2 1\\n'",
]


def test_parse_brackets_and_open_nodes_of_a_published_line():
    line = ("John slowly inspires three siblings of the very miserable poets | [_S [_Name John ] "
            "[_VP [_Adv slowly ] [_Vbar [_V inspires ] [_NumP [_Num three ] [_N [_Nrel siblings ] "
            "[_RelP [_Of of ] [_DPrel [_D the ] [_NPrel [_AdjP [_Degree very ] [_Adj miserable ] ] "
            "[_N poets ] ] ] ] ] ] ] ] ] | 1 2 3 4 5 6 7 8 9 9 | 1 1 1 1 1 1 2 0 1 8\\n'")
    tree = parse_brackets(line.split(" | ")[1])
    assert open_nodes(tree) == [int(x) for x in line.split(" | ")[2].split()]
    with pytest.raises(RnnscopeError, match="unbalanced"):
        parse_brackets("[_S [_NP the boy ]", "f:1")


def test_depth_file_is_read_checked_and_decorrelated(tmp_path):
    path = tmp_path / "filtered_sentences.txt.gz"
    path.write_bytes(gzip.compress(("\n".join(DEPTH) + "\n").encode()))
    ds = read_depth_file(path, positions=(3, 4), depths=(2, 3), seed=0)
    assert ds.sentences[0] == ["The", "boy", "greets", "the", "guy"]  # as the model reads it
    assert ds.depths[3] == [1, 2, 3, 3, 2] and ds.brackets[3] == [2, 0, 1, 3, 2]  # \n' stripped
    assert ds.info["sentences"] == 6 and ds.info["cells"] == 4 and ds.info["per_cell"] == 1
    pts = ds.points
    assert sorted(zip(pts["position"] + 1, pts["depth"])) == [(3, 2), (3, 3), (4, 2), (4, 3)]
    for s, p, d in pts.itertuples(index=False):
        assert ds.depths[s][p] == d
    raw = np.array([(j, d[j]) for d in ds.depths for j in range(len(d))])
    assert np.corrcoef(raw.T)[0, 1] > 0.3
    assert abs(np.corrcoef(pts["position"], pts["depth"])[0, 1]) < 1e-9
    two = read_depth_file(path, positions=(3, 4), depths=(2, 3), per_cell=2, seed=0)
    assert two.points.groupby(["position", "depth"]).size().to_dict() == \
        {(2, 2): 2, (2, 3): 2, (3, 2): 1, (3, 3): 2}
    kept = read_depth_file(path, positions=(3, 4), depths=(2, 3), per_length=1, seed=0)
    assert sorted(len(s) for s in kept.sentences) == [4, 5, 6]


def test_depth_file_errors_name_file_and_line(tmp_path):
    path = tmp_path / "d.txt"
    bad = DEPTH[:2] + [DEPTH[2].replace("| 1 2 3 4 |", "| 1 2 2 4 |")]
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(RnnscopeError, match=r"d.txt:3: open-node count 2 at word 3 \('the'\) "
                                            r"disagrees with the parse, which gives 3"):
        read_depth_file(path)
    path.write_text(DEPTH[0].replace(" | 0 2 1 0 3", "") + "\n")
    with pytest.raises(RnnscopeError, match=r"d.txt:1: expected 4 fields"):
        read_depth_file(path)
    path.write_text(DEPTH[0].replace("greets the guy |", "greets a guy |") + "\n")
    with pytest.raises(RnnscopeError, match=r"d.txt:1: .* differ at word 4"):
        read_depth_file(path)


def test_generate_depth_dataset_per_cell_on_pandas_3():
    ds = generate_depth_dataset(per_length=6, lengths=(2, 14), positions=(4, 8), depths=(2, 5),
                                per_cell=3, seed=0)
    sizes = ds.points.groupby(["position", "depth"]).size()
    assert sizes.max() == 3 and ds.info["per_cell"] == 3
    assert {"sentence", "position", "depth"} <= set(ds.points.columns)
    for s, p, d in ds.points.itertuples(index=False):
        assert ds.depths[s][p] == d


def test_syntax_units_cli_reads_the_depth_file(tmp_path):
    path = tmp_path / "depth.txt"
    path.write_text("\n".join(DEPTH * 8) + "\n")
    vocab = Vocabulary("word", sorted({w.lower() for ln in DEPTH for w in ln.split(" | ")[0].split()}))
    save_model(tiny_model(vocab=len(vocab), hidden=6, emb=4), vocab, tmp_path / "m")
    out = CliRunner().invoke(main, ["syntax-units", str(tmp_path / "m"), "--depth-file", str(path),
                                    "--positions", "3-4", "--depths", "2-3", "--per-cell", "4",
                                    "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert "case: sentences lowercased (the vocabulary is lowercased)" in out.output
    assert "depth data set: 16 points" in out.output and "4 position x depth cells" in out.output
    pts = pd.read_csv(tmp_path / "o" / "depth_points.csv")
    assert pts.groupby(["position", "depth"]).size().tolist() == [4, 4, 4, 4]
    bad = CliRunner().invoke(main, ["syntax-units", str(tmp_path / "m"), "--depth-file", str(path),
                                    "--positions", "9-3"])
    assert bad.exit_code == 2 and "error: --positions: 9 is above 3" in bad.output


# -- Gulordava summary rows ---------------------------------------------------------------------
def _gulordava(folder, lines):
    folder.mkdir(parents=True)
    (folder / "generated.text").write_text("".join(t + "\n" for t, _ in lines))
    (folder / "generated.gold").write_text("".join(g + "\n" for _, g in lines))


GOLD = "{pat}\t1\t{var}\t3\tVERB\tNumber=Plur\t{c}\t{w}\tbe\t1\tNOUN\t{prefix}"


def test_gulordava_summary_original_vs_nonce_per_language(tmp_path):
    en = [("the keys to the cabinet are here <eos>", GOLD.format(pat="P", var=0, c="are", w="is",
                                                                 prefix="the keys to")),
          ("the pens of sleep are here <eos>", GOLD.format(pat="P", var=1, c="are", w="is",
                                                           prefix="the pens of")),
          ("the cats of wood are here <eos>", GOLD.format(pat="P", var=2, c="are", w="is",
                                                          prefix="the cats of"))]
    _gulordava(tmp_path / "English", en)
    _gulordava(tmp_path / "Italian", en[:2])
    items = read_gulordava(tmp_path / "English" / "generated.text") + \
        read_gulordava(tmp_path / "Italian" / "generated.text")
    assert [it.extra["language"] for it in items] == ["English"] * 3 + ["Italian"] * 2
    scored = pd.DataFrame({"source": [it.source for it in items],
                           "condition": [it.condition for it in items],
                           "is_correct": [True, True, False, False, True]})
    s = gulordava_summary(scored, items).set_index("language")
    assert list(s.index) == ["English", "Italian", "all"]
    assert s.loc["English"].tolist() == [1, 1.0, 2, 0.5]
    assert s.loc["Italian"].tolist() == [1, 0.0, 1, 1.0]
    assert s.loc["all"].tolist() == [2, 0.5, 3, 2 / 3]
    # the CLI prints and writes the summary, keeping the two languages' constructions apart
    vocab = Vocabulary("word", ["the", "keys", "to", "pens", "of", "cats", "are", "is"])
    save_model(tiny_model(vocab=len(vocab), hidden=8, emb=4), vocab, tmp_path / "m")
    out = CliRunner().invoke(main, ["agreement", str(tmp_path / "m"),
                                    "--gulordava", str(tmp_path / "English" / "generated.text"),
                                    "--gulordava", str(tmp_path / "Italian" / "generated.text"),
                                    "--out", str(tmp_path / "o")])
    assert out.exit_code == 0, out.output
    assert "original vs nonce" in out.output
    csv = pd.read_csv(tmp_path / "o" / "gulordava_summary.csv").set_index("language")
    per_item = pd.read_csv(tmp_path / "o" / "agreement_items.csv")
    assert set(per_item["task"]) == {"English/P", "Italian/P"}
    nonce = per_item[per_item["condition"] == "nonce"]
    assert csv.loc["all", "nonce_n"] == 3
    assert csv.loc["all", "nonce"] == pytest.approx(100 * nonce["is_correct"].mean(), abs=0.06)
