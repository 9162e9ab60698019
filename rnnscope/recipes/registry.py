"""The reference-model recipes: one named, re-runnable list of commands per model.

A recipe is data: a name, what it makes, its settings (``params``) and its steps. A step is a
command line with ``{placeholders}``:

* ``rnnscope ...`` runs our own CLI (in a subprocess, with the current interpreter);
* ``py:module:function key=value ...`` calls a small preparation function in-process
  (see :mod:`rnnscope.recipes.prepare`).

Placeholders: ``{data}`` (the shared corpora, default ``../shared/data``), ``{runs}`` (where
runs are written, outside the repository), ``{models}`` (the repository's ``models/`` folder),
``{run}`` (``{runs}/<recipe name>``) and every key of ``params``. ``tiny`` overrides params
for a seconds-long smoke run (tests use it); it is never used for the shipped models.

Every shipped model folder under ``models/<name>/`` was produced by ``rnnscope recipe <name>``
and holds a ``recipe.json`` with the exact commands and settings that made it.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    """One reference model (or analysis bundle) and the commands that make it."""

    name: str
    description: str
    steps: tuple[str, ...]
    params: dict = field(default_factory=dict)
    tiny: dict = field(default_factory=dict)
    ship: bool = True          # copy {run}/model to models/<name>/ when done
    budget: str = ""           # what was reduced to fit 2 CPU cores, said plainly
    seeds: tuple[str, ...] = ()  # which seed papers use the model
    ship_dtype: str = "float32"  # weights as shipped in models/ ("float16" halves the size)
    max_mb: int = 20           # size limit of the shipped folder

    def commands(self, data: str, runs: str, models: str, tiny: bool = False,
                 overrides: dict | None = None) -> list[list[str]]:
        """The steps as argv lists, placeholders filled in (``tiny`` settings if asked)."""
        values = dict(self.params)
        if tiny:
            values.update(self.tiny)
        values.update(overrides or {})
        values.update(data=data, runs=runs, models=models, run=f"{runs}/{self.name}")
        out = []
        for step in self.steps:
            try:
                text = step.format(**values)
            except KeyError as exc:  # a recipe bug, caught by the registry test
                raise KeyError(f"recipe {self.name}: step {step!r} uses unknown {exc}") from None
            out.append(shlex.split(text))
        return out


_PTB_TRAIN = ("rnnscope train --corpus-train {data}/ptb/ptb.train.txt.gz "
              "--corpus-valid {data}/ptb/ptb.valid.txt.gz --corpus-test {data}/ptb/ptb.test.txt.gz "
              "--level word --cell {cell} --layers 1 --hidden {hidden} --emb 64 --dropout 0.1 "
              "--lr 3e-3 --epochs {epochs} --max-tokens {max_tokens} --seed 1111 --bf16 "
              "--threads 1 --save-every 200 --no-progress --out {run}")
_PTB_PARAMS = {"cell": "lstm", "hidden": 256, "epochs": 1, "max_tokens": 600000}
_PTB_TINY = {"hidden": 16, "max_tokens": 3000}
_PTB_BUDGET = ("1 epoch over the first 600,000 of PTB's 929,589 training tokens with Adam "
               "(seed 003: SGD over all of PTB, lr 1 for 6 epochs then decayed, 200-word BPTT)")


def _synthetic_lm(hidden: int, lr: float, lr_decay: float, epochs: int, patience: int,
                  description: str, budget: str) -> Recipe:
    """An LSTM on seed 003's synthetic A B B ... data (1M training tokens, seed 0)."""
    return Recipe(
        name=f"synthetic-lstm{hidden}",
        description=description,
        steps=(
            "rnnscope synthetic-data --out {runs}/data/synthetic --train-tokens {train_tokens} "
            "--seed 0",
            "rnnscope train --corpus-train {runs}/data/synthetic/train.txt "
            "--corpus-valid {runs}/data/synthetic/valid.txt "
            "--corpus-test {runs}/data/synthetic/test.txt --level word --cell lstm --layers 1 "
            f"--hidden {{hidden}} --emb 10 --dropout 0 --optimizer adam --lr {lr} "
            f"--lr-decay {lr_decay} --clip 1 --batch-size 64 --bptt 64 --epochs {{epochs}} "
            f"--patience {patience} --seed 1 --threads 1 --no-progress --out {{run}}",
        ),
        params={"hidden": hidden, "epochs": epochs, "train_tokens": 1_000_000},
        tiny={"hidden": 8, "epochs": 1, "train_tokens": 5000},
        budget=budget, seeds=("003",))


def _ud_lm(code: str, split: str, level: str, hidden: int, epochs: int, note: str,
           cell: str = "lstm") -> Recipe:
    """A seed-000 style 64-dim word/char LSTM LM trained on one UD treebank's own text.

    ``cell="lstm_peephole"`` trains seed 000's own cell (gates that see ``c(t-1)``).

    English EWT has a train split: train on it, validate on dev. The other treebanks here have
    only dev and test: train on dev with its last 10% held out for validation (the probes are
    then fit on dev, which the LM has seen, and scored on test, which it has not).
    """
    tag, kind = {"lstm": ("lstm", ""), "lstm_peephole": ("peephole", "peephole ")}[cell]
    name = f"ud-{code.replace('_', '-')}-{level}-{tag}{hidden}"
    ud = "{data}/ud/" + code + "/" + code + "-ud-%s.conllu.gz"
    txt = "{runs}/data/" + code + "_%s." + level + ".txt"
    splits = (split, "dev") if split == "train" else (split,)
    prepare = [f"py:rnnscope.recipes.prepare:conllu_text path={ud % s} out={txt % s} level={level}"
               for s in splits]
    valid = f"--corpus-valid {txt % 'dev'}" if split == "train" else "--valid-fraction 0.1"
    max_vocab = "--max-vocab 10000 " if level == "word" else ""
    train = (f"rnnscope train --corpus-train {txt % split} {valid} --level {level} "
             f"--cell {cell} --layers 1 --hidden {{hidden}} --emb 64 --dropout 0.1 --lr 3e-3 "
             f"--epochs {{epochs}} {max_vocab}--max-tokens {{max_tokens}} --bptt 35 "
             "--batch-size 20 --seed 1111 --threads 1 --no-progress --out {run}")
    return Recipe(
        name=name,
        description=(f"{level} {kind}LSTM 1x{hidden} "
                     f"(64-dim embedding) on UD {code} {split} text ({note})"),
        steps=(*prepare, train),
        params={"hidden": hidden, "epochs": epochs, "max_tokens": 2_000_000},
        tiny={"hidden": 8, "epochs": 1, "max_tokens": 2000},
        budget=f"{epochs} epochs; seed 000 used 64-dim models trained to convergence on a 90% split",
        seeds=("000",))


def _reference_lm(name: str, hidden: int, epochs: int, description: str, budget: str,
                  emb: int | None = None) -> Recipe:
    """The reference word LM of the agreement analyses (seed 004): PTB + WikiText-2, lowercased.

    Two LSTM layers, an adaptive softmax over every word seen at least 3 times (~31k types),
    early stopping on WikiText-2 validation, PTB test scored with the best model. ``emb``: the
    embedding width (default ``hidden``).
    """
    txt = "{runs}/data/ref-%s.txt"
    return Recipe(
        name=name,
        description=description,
        steps=(
            "py:rnnscope.recipes.prepare:lm_text paths={data}/ptb/ptb.train.txt.gz,"
            "{data}/wikitext-2/train.txt.gz out=" + txt % "train",
            "py:rnnscope.recipes.prepare:lm_text paths={data}/wikitext-2/valid.txt.gz out="
            + txt % "wt2-valid",
            "py:rnnscope.recipes.prepare:lm_text paths={data}/ptb/ptb.test.txt.gz out="
            + txt % "ptb-test",
            "rnnscope train --corpus-train " + txt % "train" + " --corpus-valid "
            + txt % "wt2-valid" + " --corpus-test " + txt % "ptb-test" + " --level word "
            "--cell lstm --layers 2 --hidden {hidden} --emb {emb} --dropout {dropout} "
            "--output adaptive --adaptive-cutoffs 2000,10000 --min-count 3 --optimizer adam "
            "--lr {lr} --lr-decay 0.25 --clip 0.25 --bptt 35 --batch-size 64 --epochs {epochs} "
            "--patience 2 --max-tokens {max_tokens} --seed 1111 --bf16 --threads {threads} "
            "--save-every 200 --no-progress --out {run}",
        ),
        params={"hidden": hidden, "emb": emb or hidden, "epochs": epochs, "dropout": 0.3,
                "lr": 2e-3, "max_tokens": 10_000_000, "threads": 2},
        tiny={"hidden": 16, "emb": 16, "epochs": 1, "max_tokens": 5000, "threads": 1},
        budget=budget, seeds=("004",), ship_dtype="float16", max_mb=40)


RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe(
        name="ptb-lstm256",
        description="word LSTM 1x256, 64-dim embedding, on PTB (seed 003's baseline shape)",
        steps=(_PTB_TRAIN,),
        params=dict(_PTB_PARAMS), tiny=dict(_PTB_TINY), budget=_PTB_BUDGET,
        seeds=("001", "003", "004")),
    Recipe(
        name="ptb-lstm256-random",
        description="the same network as ptb-lstm256 with random weights (no training)",
        steps=("py:rnnscope.recipes.prepare:random_copy model={models}/ptb-lstm256 "
               "out={run}/model seed=0",),
        ship=False,  # 14 MB of random numbers: rebuilt in a second from the seed, not committed
        budget="no training", seeds=("003",)),
    Recipe(
        name="ptb-gru256",
        description="word GRU 1x256, 64-dim embedding, on PTB (seed 003 cell comparison)",
        steps=(_PTB_TRAIN,), params={**_PTB_PARAMS, "cell": "gru"}, tiny=dict(_PTB_TINY),
        budget=_PTB_BUDGET, seeds=("003",)),
    Recipe(
        name="ptb-rnn256",
        description="word tanh RNN 1x256, 64-dim embedding, on PTB (seed 003 cell comparison)",
        steps=(_PTB_TRAIN,), params={**_PTB_PARAMS, "cell": "rnn"}, tiny=dict(_PTB_TINY),
        budget=_PTB_BUDGET, seeds=("003",)),
    Recipe(
        name="ptb-lstm128",
        description="word LSTM 1x128, 64-dim embedding, on PTB (seed 003 hidden-size comparison)",
        steps=(_PTB_TRAIN,), params={**_PTB_PARAMS, "hidden": 128}, tiny=dict(_PTB_TINY),
        budget=_PTB_BUDGET, seeds=("003",)),
    Recipe(
        name="ptb-lstm512",
        description="word LSTM 1x512, 64-dim embedding, on PTB (seed 003 hidden-size comparison)",
        steps=(_PTB_TRAIN,), params={**_PTB_PARAMS, "hidden": 512}, tiny=dict(_PTB_TINY),
        ship=False,  # 28 MB, over the 20 MB limit for models/: analyses read {runs}/ptb-lstm512
        budget=_PTB_BUDGET, seeds=("003",)),
    Recipe(
        name="sst2-byte-lstm256",
        description="byte LSTM 1x256 (64-dim embedding) on the SST-2 training sentences",
        steps=(
            "py:rnnscope.recipes.prepare:sst2_text data_dir={data}/sst2 split=train "
            "out={runs}/data/sst2_train.txt",
            "py:rnnscope.recipes.prepare:sst2_text data_dir={data}/sst2 split=dev "
            "out={runs}/data/sst2_dev.txt",
            "py:rnnscope.recipes.prepare:sst2_text data_dir={data}/sst2 split=test "
            "out={runs}/data/sst2_test.txt",
            "rnnscope train --corpus-train {runs}/data/sst2_train.txt "
            "--corpus-valid {runs}/data/sst2_dev.txt --corpus-test {runs}/data/sst2_test.txt "
            "--level byte --cell lstm --layers 1 --hidden {hidden} --emb 64 --dropout 0 "
            "--lr 3e-3 --bptt 100 --batch-size 32 --epochs {epochs} --seed 1111 --bf16 "
            "--threads 1 --save-every 100 --no-progress --out {run}",
        ),
        params={"hidden": 256, "epochs": 6}, tiny={"hidden": 8, "epochs": 1},
        budget=("711 kB of text (6,920 SST-2 training reviews), 6 epochs; seed 002 trained a "
                "1x2048 byte LSTM on WikiText-103 (POS) and a byte LM on ~65M Amazon reviews "
                "(sentiment)"),
        seeds=("002",)),
    Recipe(
        name="shakespeare-char-lstm256",
        description="char LSTM 1x256 (64-dim embedding) on Tiny Shakespeare (last 10% = valid)",
        steps=("rnnscope train --corpus-train {data}/tinyshakespeare/input.txt.gz "
               "--valid-fraction 0.1 --level char --cell lstm --layers 1 --hidden {hidden} "
               "--emb 64 --dropout 0 --lr 4e-3 --bptt 64 --batch-size 16 --epochs {epochs} "
               "--threads 1 --no-progress --out {run}",),
        params={"hidden": 256, "epochs": 4}, tiny={"hidden": 8, "epochs": 1},
        budget="4 epochs (the training engineer's measured run of exactly this command)",
        seeds=("000", "001")),
    Recipe(
        name="sst2-classifier-lstm64",
        description="word LSTM 1x64 sentiment classifier on SST-2 (seed 000's task model)",
        steps=("rnnscope train-classifier --data {data}/sst2 --out {run}/model --epochs {epochs} "
               "--hidden 64 --emb 64 --threads 1",),
        params={"epochs": 4}, tiny={"epochs": 1}, budget="4 epochs", seeds=("000",)),
    _synthetic_lm(64, lr=0.01, lr_decay=1.0, epochs=30, patience=30,
                  description="LSTM 1x64 on the synthetic A B B ... dataset of seed 003 (10 token types)",
                  budget=("1M training tokens (seed 003: 16M), Adam instead of Adagrad, 50 -> 64 "
                          "units, 10-dim embedding (seed 003: one-hot input); settings of the "
                          "memory engineer's run C")),
    _synthetic_lm(128, lr=0.005, lr_decay=0.5, epochs=25, patience=4,
                  description=("LSTM 1x128 on the synthetic A B B ... dataset of seed 003, lr "
                               "halved on plateaus"),
                  budget=("1M training tokens (seed 003: 16M), Adam with the rate halved on "
                          "plateaus, 128 units")),
    _reference_lm("ref-lstm2x256", 256, 12,
                  description=("reference word LSTM 2x256 on PTB + WikiText-2 train (3.0M tokens, "
                               "lowercased, 31k words, adaptive softmax): the first, smaller "
                               "agreement model"),
                  budget=("up to 12 epochs over 3.0M tokens on 2 CPU threads, early stopping on "
                          "WikiText-2 valid (seed 004: 2x650 on 90M Wikipedia tokens)")),
    _reference_lm("ref-lstm2x650", 650, 14, emb=256,
                  description=("reference word LSTM 2x650 (seed 004's width; 256-dim embedding so "
                               "the float16 checkpoint is 34.5 MB) on PTB + WikiText-2 train "
                               "(3.0M tokens, lowercased, 31k words, adaptive softmax): the "
                               "agreement model"),
                  budget=("up to 14 epochs over 3.0M tokens on 2 CPU threads with bf16 autocast "
                          "(~8 min an epoch with the machine alone; float32 where the CPU has "
                          "no bf16), early stopping on WikiText-2 valid (seed 004: 2x650 on 90M "
                          "Wikipedia tokens)")),
    _ud_lm("en_ewt", "train", "word", 64, 3, "train split, validated on dev; probes fit on dev, scored on test"),
    _ud_lm("en_ewt", "train", "char", 64, 2, "train split surface text"),
    _ud_lm("en_ewt", "train", "word", 64, 3, "seed 000's peephole cell; otherwise as the LSTM",
           cell="lstm_peephole"),
    _ud_lm("pt_bosque", "dev", "word", 64, 6, "90% of dev; the LM saw the dev sentences the probe is fit on"),
    _ud_lm("no_bokmaal", "dev", "word", 64, 6, "90% of dev; the LM saw the dev sentences the probe is fit on"),
    _ud_lm("bg_btb", "dev", "word", 64, 6, "90% of dev; the LM saw the dev sentences the probe is fit on"),
)}


def get(name: str) -> Recipe:
    """The recipe called ``name``; RnnscopeError listing the known names otherwise."""
    from rnnscope.errors import RnnscopeError

    if name not in RECIPES:
        raise RnnscopeError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]
