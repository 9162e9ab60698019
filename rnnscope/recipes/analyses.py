"""The replication run: every analysis of ``docs/replication.md`` as named, seeded steps.

``rnnscope recipe replicate`` runs them all (``--only NAME`` for some): extraction into
``{runs}/replication-stores``, tables (CSV) into ``--results``, figures into ``docs/figures``. Steps are
command lines like the model recipes' (see :mod:`rnnscope.recipes.registry`), plus:

* an argument ``@file:PATH`` is replaced, when the step runs, by the stripped contents of
  ``PATH`` (units picked by an earlier step, e.g. the number units found by the ablation sweep);
* ``py:rnnscope.recipes.analyses:...`` helpers pick such units from a result table and copy
  figures that a command wrote into its ``--out`` folder.

A failing step stops its analysis, not the run: the failure is reported and the next analysis
starts (the document then says "not run" with the reason).
"""
from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from rnnscope.errors import RnnscopeError
from rnnscope.recipes.registry import Recipe


# -- helpers called by steps ----------------------------------------------------------------
def copy_figure(src: str, dst: str) -> None:
    """Copy one figure a command wrote (into its ``--out`` folder) to ``docs/figures``."""
    s, d = Path(src), Path(dst)
    if not s.is_file():
        raise RnnscopeError(f"figure {s} was not written")
    d.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(s, d)


def pick_units(csv: str, out: str, column: str = "", n: str = "2", largest: str = "1",
               layer_col: str = "layer", unit_col: str = "unit", query: str = "") -> None:
    """Write the ``n`` units with the largest (or smallest) ``column`` as ``layer:unit,...``.

    Used to hand the units one analysis found (ablation sweep, syntax-unit regression) to the
    next one (dynamics, time decoding, connectivity); 1-based layers as the agreement CLI wants.
    """
    table = pd.read_csv(csv)
    if query:
        table = table.query(query)
    if column:
        table = table.sort_values(column, ascending=largest in ("0", "false", "False"))
    table = table.drop_duplicates([layer_col, unit_col]).head(int(n))
    if table.empty:
        raise RnnscopeError(f"{csv}: no units to pick")
    units = ",".join(f"{int(r[layer_col])}:{int(r[unit_col])}" for _, r in table.iterrows())
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(units + "\n")


def resolve_files(argv: Sequence[str]) -> list[str]:
    """Replace every ``@file:PATH`` argument by the stripped contents of ``PATH``."""
    out = []
    for arg in argv:
        if arg.startswith("@file:"):
            path = Path(arg[len("@file:"):])
            if not path.is_file():
                raise RnnscopeError(f"{path} (written by an earlier step) does not exist")
            out.append(path.read_text().strip())
        else:
            out.append(arg)
    return out


# -- the analyses --------------------------------------------------------------------------
def _extract(model: str, corpus: str, store: str, extra: str = "") -> str:
    return (f"rnnscope extract --model {{models}}/{model} --corpus {corpus} --out "
            f"{{stores}}/{store} --overwrite --threads 1 --no-progress {extra}").strip()


_UD = "{data}/ud/%s/%s-ud-%s.conllu.gz"


def _probe(store: str, feature: str, out: str, extra: str = "", plot: bool = False) -> str:
    fig = f" --plot {{figures}}/{out}.png" if plot else ""
    return (f"rnnscope probe {{stores}}/{store}-dev --test-store {{stores}}/{store}-test "
            f"--feature {feature} --components h,c,i,f,o --min-count 2 --seed 0 "
            f"--csv {{results}}/{out}.csv{fig} {extra}").strip()


def _ud_language(code: str, features: Sequence[str]) -> Recipe:
    short = code.split("_")[0]
    model = f"ud-{code.replace('_', '-')}-word-lstm64"
    store = f"{short}-word"
    steps = [_extract(model, _UD % (code, code, "dev"), f"{store}-dev", "--components h,c,i,f,o"),
             _extract(model, _UD % (code, code, "test"), f"{store}-test", "--components h,c,i,f,o")]
    for feature in features:
        steps.append(_probe(store, feature, f"s000_{short}_{feature.lower()}",
                            "--no-control", plot=False))
    steps.append(f"rnnscope correlate {{stores}}/{store}-test --features depth,position,length "
                 f"--csv {{results}}/s000_{short}_correlate.csv")
    return Recipe(name=f"s000-{short}", description=f"seed 000: decoding + depth on UD {code}",
                  steps=tuple(steps), ship=False, seeds=("000",))


_NA = "{models}/ptb-lstm256"
_S004 = "{results}/s004"

_REF = "{models}/ref-lstm2x256"
_S004_REF = "{results}/s004_ref"
_REF650 = "{models}/ref-lstm2x650"
_REF_TRAIN = "{runs}/data/ref-train.txt"  # written by the ref-lstm recipes' first step
_EWT_TRAIN = "{data}/ud/en_ewt/en_ewt-ud-train.conllu.gz"
_S004_REF650 = "{results}/s004_ref650"


def _seed004(prefix: str, model: str, out: str, what: str,
             train_text: str | None = None) -> tuple[Recipe, Recipe]:
    """Seed 004's pipeline on one model: accuracies, the single-unit ablation sweep, syntax
    units and time decoding; then, on the units they found, dynamics, subset ablation and
    connectivity, and interchange patching of every unit between number twins. Items are
    lowercased to the model's vocabulary automatically (--case auto). With ``train_text``
    (the model's training text) also the accuracies on word pools fitted to it."""
    fitted = () if train_text is None else (
        f"rnnscope wordpools --corpus {train_text} --treebank {_EWT_TRAIN} "
        f"--out {out}/pools_fitted.json",
        f"rnnscope agreement {model} --wordpools {out}/pools_fitted.json --n 600 --seed 0 "
        f"--by-verb --out {out}/agreement_fitted",
    )
    first = Recipe(
        name=f"{prefix}-agreement",
        description=f"seed 004 on the {what}: NA-task accuracies, single-unit ablation sweep, "
                    "time decoding, syntax units"
                    + ("; accuracies on word pools fitted to its training text" if fitted else ""),
        steps=(
            f"rnnscope agreement {model} --n 600 --seed 0 --by-verb --out {out}/agreement",
            f"rnnscope ablate {model} --n 100 --seed 0 --mode h --out {out}/ablate",
            f"rnnscope syntax-units {model} --per-length 100 --seed 0 --out {out}/syntax",
            f"rnnscope time-decoding {model} --tasks NounPP --n 100 --seed 0 --out {out}/time",
            *fitted,
        ),
        ship=False, seeds=("004",))
    second = Recipe(
        name=f"{prefix}-units",
        description=f"seed 004 follow-ups on the units {prefix}-agreement found ({what}): "
                    "dynamics of the units whose ablation hurts incongruent conditions most, "
                    "syntax-unit subset ablation vs random sets, syntax -> number-unit "
                    "connectivity, single-unit interchange patching",
        steps=(
            f"py:rnnscope.recipes.analyses:pick_units csv={out}/ablate/ablation_sweep.csv "
            f"out={out}/number_units.txt column=drop n=2 query=incongruent",
            f"py:rnnscope.recipes.analyses:pick_units "
            f"csv={out}/syntax/syntax_units_outliers.csv out={out}/syntax_units.txt n=10",
            f"py:rnnscope.recipes.analyses:pick_units "
            f"csv={out}/syntax/syntax_units_outliers.csv out={out}/syntax_unit.txt n=1",
            f"rnnscope dynamics {model} --tasks NounPP --n 100 --seed 0 "
            f"--units @file:{out}/number_units.txt --out {out}/dynamics",
            f"rnnscope ablate {model} --n 100 --seed 0 --mode h "
            f"--subset @file:{out}/syntax_units.txt --n-random 100 --out {out}/subset",
            f"rnnscope connectivity {model} --sources @file:{out}/syntax_unit.txt "
            f"--targets @file:{out}/number_units.txt --scale-task NounPP "
            f"--out {out}/connectivity",
            f"rnnscope patch {model} --tasks NounPP --n 50 --seed 0 --mode h --out {out}/patch",
        ),
        ship=False, seeds=("004",))
    return first, second


ANALYSES: dict[str, Recipe] = {a.name: a for a in (
    Recipe(
        name="s000-en",
        description="seed 000: per-component UPOS/deprel/morph decoding, offsets, correlations "
                    "on UD EWT (word LSTM 64 trained on EWT train; fit dev, score test)",
        steps=(
            _extract("ud-en-ewt-word-lstm64", _UD % ("en_ewt", "en_ewt", "dev"), "en-word-dev",
                     "--components h,c,i,f,o"),
            _extract("ud-en-ewt-word-lstm64", _UD % ("en_ewt", "en_ewt", "test"), "en-word-test",
                     "--components h,c,i,f,o"),
            _probe("en-word", "upos", "s000_en_upos", plot=True),
        ),
        ship=False, seeds=("000",)),
    Recipe(
        name="s000-en-more",
        description="seed 000 on EWT (after s000-en): deprel and morphology decoding, context "
                    "offsets (h and f), correlations with position/length/depth/frequency",
        steps=(
            _probe("en-word", "deprel", "s000_en_deprel", "--no-control", plot=True),
            _probe("en-word", "VerbForm", "s000_en_verbform", "--no-control"),
            _probe("en-word", "Definite", "s000_en_definite", "--no-control"),
            _probe("en-word", "upos", "s000_en_offsets",
                   "--no-control --offsets -2,-1,1,2").replace("h,c,i,f,o", "h,f"),
            "rnnscope correlate {stores}/en-word-test --csv {results}/s000_en_correlate.csv "
            "--plot {figures}/s000_en_position.png",
        ),
        ship=False, seeds=("000",)),
    Recipe(
        name="s000-en-peephole",
        description="seed 000 with its own cell: per-component UPOS decoding on EWT by the "
                    "peephole LSTM (gates see c(t-1)), beside s000-en's plain LSTM",
        steps=(
            _extract("ud-en-ewt-word-peephole64", _UD % ("en_ewt", "en_ewt", "dev"),
                     "en-peep-dev", "--components h,c,i,f,o"),
            _extract("ud-en-ewt-word-peephole64", _UD % ("en_ewt", "en_ewt", "test"),
                     "en-peep-test", "--components h,c,i,f,o"),
            _probe("en-peep", "upos", "s000_en_peephole_upos"),
        ),
        ship=False, seeds=("000",)),
    _ud_language("pt_bosque", ("upos", "Gender")),
    _ud_language("no_bokmaal", ("upos", "Gender")),
    _ud_language("bg_btb", ("upos", "Gender", "Definite")),
    Recipe(
        name="s000-compare",
        description="seed 000 §5: word LM vs char LM vs sentiment classifier decoding UPOS on "
                    "EWT test (same sentences, same 90/10 split)",
        steps=(
            _extract("ud-en-ewt-char-lstm64", _UD % ("en_ewt", "en_ewt", "test"),
                     "en-char-test", "--components h,c,i,f,o"),
            _extract("sst2-classifier-lstm64", _UD % ("en_ewt", "en_ewt", "test"),
                     "en-sentiment-test", "--components h,c,i,f,o"),
            "rnnscope compare-models --store 'word LM={stores}/en-word-test' "
            "--store 'char LM={stores}/en-char-test' "
            "--store 'sentiment={stores}/en-sentiment-test' --feature upos --no-control "
            "--seed 0 --csv {results}/s000_compare.csv --plot {figures}/s000_compare.png",
        ),
        ship=False, seeds=("000",)),
    Recipe(
        name="s001-match",
        description="seed 001: LSTMVis-style span matches on the PTB LSTM (hidden state)",
        steps=(
            _extract("ptb-lstm256", "{data}/ptb/ptb.valid.txt.gz", "ptb-valid",
                     "--components h --max-sentences 1500"),
            "rnnscope match {stores}/ptb-valid --phrase 'the company' --threshold 0.3 --top 5 "
            "--csv {results}/s001_match_company.csv --figure {figures}/s001_match_company.png",
            "rnnscope match {stores}/ptb-valid --phrase 'in the' --threshold 0.3 --top 5 "
            "--csv {results}/s001_match_in_the.csv --figure {figures}/s001_match_in_the.png",
        ),
        ship=False, seeds=("001",)),
    Recipe(
        name="s002-concepts",
        description="seed 002: byte-level POS concept neurons on the first 1000 WSJ sentences",
        steps=(
            _extract("sst2-byte-lstm256", "{data}/nltk_treebank/treebank.zip", "wsj-byte",
                     "--components c --max-sentences 1000"),
            # seed 002's procedure: raw cell states ranked, 80/10/10 with C chosen on dev
            "rnnscope concepts {stores}/wsj-byte --feature xpos --group --k 3 --seed 0 "
            "--rank raw --split 80/10/10 "
            "--csv {results}/s002_concepts_grouped.csv --plot {figures}/s002_vb_weights.png "
            "--class VB",
            "rnnscope concepts {stores}/wsj-byte --feature xpos --min-count 20 --k 3 --seed 0 "
            "--rank raw --split 80/10/10 --csv {results}/s002_concepts_all.csv",
        ),
        ship=False, seeds=("002",)),
    Recipe(
        name="s002-sentiment",
        description="seed 002 / Radford: the sentiment neuron of the byte LSTM on SST-2",
        steps=(
            "rnnscope sentiment-neuron --model {models}/sst2-byte-lstm256 --data {data}/sst2 "
            "--csv {results}/s002_sentiment.csv --plot {figures}/s002_sentiment_weights.png "
            "--hist {figures}/s002_sentiment_hist.png",
        ),
        ship=False, seeds=("002",)),
    Recipe(
        name="s003-synthetic",
        description="seed 003 §4.2: synthetic-task perplexity and the LDA table (Table 1, Fig 3)",
        steps=(
            "rnnscope synthetic-data --out {runs}/data/synthetic --seed 0",
            "rnnscope evaluate --model {models}/synthetic-lstm64 "
            "--corpus {runs}/data/synthetic/test.txt",
            "rnnscope lda-probe --model {models}/synthetic-lstm64 "
            "--data {runs}/data/synthetic/valid.txt --max-delay 20 --out {results}/s003_lda",
        ),
        ship=False, seeds=("003",)),
    Recipe(
        name="s003-memory",
        description="seed 003 §4.3/§5: PTB memory curves per POS (WSJ sample) with two noun "
                    "properties, per word type with decay fits vs frequency, trained vs random",
        steps=(
            "rnnscope gradients --model {models}/ptb-lstm256 "
            "--corpus {data}/nltk_treebank/treebank.zip --ptb-normalise --group-by xpos "
            "--max-delay 50 --max-units 4000 --property sg-pl=NN,NNP:NNS,NNPS "
            "--property common-proper=NN,NNS:NNP,NNPS --out {results}/s003_pos",
            "rnnscope gradients --model {models}/ptb-lstm256 --corpus {data}/ptb/ptb.valid.txt.gz "
            "--group-by word --freq-from {data}/ptb/ptb.train.txt.gz --min-count 3 "
            "--max-delay 50 --max-units 4000 --out {results}/s003_words",
            "rnnscope memory-compare --model {models}/ptb-lstm256 --name trained --random-init "
            "--state layer1.c --state layer1.h --corpus {data}/ptb/ptb.valid.txt.gz "
            "--max-delay 50 --max-units 1000 --out {results}/s003_random",
        ),
        ship=False, seeds=("003",)),
    Recipe(
        name="s003-cells",
        description="seed 003 Fig 5b: hidden-state memory of LSTM vs GRU vs RNN (same size, "
                    "same data and budget)",
        steps=(
            "rnnscope memory-compare --model {models}/ptb-lstm256 --model {models}/ptb-gru256 "
            "--model {models}/ptb-rnn256 --name LSTM --name GRU --name RNN --state layer1.h "
            "--corpus {data}/ptb/ptb.valid.txt.gz --max-delay 50 --max-units 1000 "
            "--out {results}/s003_cells",
        ),
        ship=False, seeds=("003",)),
    Recipe(
        name="s003-sizes",
        description="seed 003 Fig 6a: cell-state memory of 128-, 256- and 512-unit PTB LSTMs",
        steps=(
            "rnnscope memory-compare --model {models}/ptb-lstm128 --model {models}/ptb-lstm256 "
            "--model {runs}/ptb-lstm512/model --name 128h --name 256h --name 512h "
            "--state layer1.c --corpus {data}/ptb/ptb.valid.txt.gz --max-delay 50 "
            "--max-units 1000 --out {results}/s003_sizes",
        ),
        ship=False, seeds=("003",)),
    *_seed004("s004", _NA, _S004, "PTB LSTM 1x256"),
    *_seed004("s004-ref", _REF, _S004_REF, "reference LM 2x256 on PTB + WikiText-2", _REF_TRAIN),
    *_seed004("s004-ref650", _REF650, _S004_REF650, "reference LM 2x650 on PTB + WikiText-2",
              _REF_TRAIN),
    Recipe(
        name="figures",
        description="copy the figures that commands wrote into their --out folders to docs/figures",
        steps=tuple(
            f"py:rnnscope.recipes.analyses:copy_figure src={{results}}/{src} dst={{figures}}/{dst}"
            for src, dst in (
                ("s003_pos/memory_layer1_c.png", "s003_memory_pos.png"),
                ("s003_words/decay_relation_layer1_c.png", "s003_decay_vs_frequency.png"),
                ("s003_random/memory_compare.png", "s003_trained_vs_random.png"),
                ("s003_cells/memory_compare.png", "s003_lstm_gru_rnn.png"),
                ("s003_sizes/memory_compare.png", "s003_hidden_sizes.png"),
                ("s004/agreement/agreement.png", "s004_agreement.png"),
                ("s004/ablate/ablation_sweep.png", "s004_ablation_sweep.png"),
                ("s004/syntax/syntax_units.png", "s004_syntax_units.png"),
                ("s004/time/time_decoding_matrix.png", "s004_time_decoding.png"),
                ("s004/dynamics/dynamics_NounPP_1_241.png", "s004_dynamics_unit241.png"),
                ("s004_ref/ablate/ablation_sweep.png", "s004_ref_ablation_sweep.png"),
                ("s004_ref/time/time_decoding_subject.png", "s004_ref_time_decoding.png"),
                ("s004_ref/dynamics/dynamics_NounPP_2_176.png", "s004_ref_dynamics_unit176.png"),
                ("s004_ref650/agreement/agreement_by_verb.png", "s004_ref650_agreement_by_verb.png"),
                ("s004_ref650/ablate/ablation_sweep.png", "s004_ref650_ablation_sweep.png"),
                ("s004_ref650/time/time_decoding_subject.png", "s004_ref650_time_decoding.png"),
                ("s004_ref650/dynamics/dynamics_NounPP_2_316.png", "s004_ref650_dynamics_unit2_316.png"),
            )),
        ship=False, seeds=()),
)}


def _fill(recipe: Recipe, data: str, runs: str, models: str, figures: str, results: str,
          tiny: bool) -> list[list[str]]:
    extra = {"figures": figures, "results": results, "stores": f"{runs}/replication-stores"}
    return recipe.commands(data, runs, models, tiny=tiny, overrides=extra)


def replicate(data: str, runs: str, models: str, figures: str, results: str,
              only: Sequence[str] = (), dry_run: bool = False, tiny: bool = False,
              log: Callable[[str], None] = print) -> list[str]:
    """Run the analyses (all, or those named in ``only``); returns the names that failed."""
    from rnnscope.recipes.runner import run_step

    unknown = [n for n in only if n not in ANALYSES]
    if unknown:
        raise RnnscopeError(f"unknown analysis {unknown[0]!r}; known: {', '.join(ANALYSES)}")
    failed = []
    for name, analysis in ANALYSES.items():
        if only and name not in only:
            continue
        commands = _fill(analysis, data, runs, models, figures, results, tiny)
        log(f"== {name}: {analysis.description}")
        if dry_run:
            for argv in commands:
                log(" ".join(argv))
            continue
        Path(results).mkdir(parents=True, exist_ok=True)
        Path(figures).mkdir(parents=True, exist_ok=True)
        try:
            for argv in commands:
                run_step(resolve_files(argv), log)
        except RnnscopeError as exc:
            log(f"!! {name} failed: {exc}")
            failed.append(name)
    return failed
