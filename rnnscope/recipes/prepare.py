"""Preparation steps of the recipes: derived training texts written OUTSIDE the repository.

The training CLI reads plain text (one line per sentence/paragraph). Some reference models are
trained on text that only exists inside another format (SST-2 CSV); these helpers write that
text into the run folder, deterministically, so a recipe is one re-runnable list of commands.
"""
from __future__ import annotations

from pathlib import Path

from rnnscope.analysis.sentiment import preprocess_review, read_sst2, sst2_files
from rnnscope.errors import RnnscopeError


def sst2_text(data_dir: str | Path, split: str, out: str | Path) -> Path:
    """Write the SST-2 ``split`` sentences, one per line (seed-002 preprocessing, stripped).

    The byte LM of seed 002 then sees exactly the reviews that the sentiment-neuron analysis
    reads (same preprocessing), one review per line.
    """
    files = sst2_files(data_dir)
    if split not in files:
        raise RnnscopeError(f"SST-2 split {split!r} not found in {data_dir}")
    texts, _ = read_sst2(files[split])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # preprocess_review(t) == "\n " + t' + "\n": one line " t'" per review reproduces it
    # exactly inside the stream ("...\n t1\n t2\n").
    lines = [preprocess_review(t)[1:-1] for t in texts]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def conllu_text(path: str | Path, out: str | Path, level: str = "word") -> Path:
    """Write a CoNLL-U file's sentences as training text, one sentence per line.

    ``level="word"`` joins the treebank's syntactic words with single spaces (so a word LM's
    tokens are exactly the words the probes are scored on); ``level="char"`` writes the
    surface text (multiword tokens and ``SpaceAfter=No`` honoured), as a char model reads it.
    """
    from rnnscope.corpus.align import surface_text
    from rnnscope.corpus.readers import read_conllu

    if level not in ("word", "char"):
        raise RnnscopeError(f"level must be word or char, got {level!r}")
    corpus = read_conllu(path)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if level == "word":
        lines = [" ".join(s.words) for s in corpus.sentences]
    else:
        lines = [surface_text(s) for s in corpus.sentences]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def random_copy(model: str | Path, out: str | Path, seed: int = 0) -> Path:
    """A freshly initialised (untrained) copy of ``model``: same config and vocabulary.

    Seed 003 compares a trained LM with "the same network with random weights"; this writes
    that network as an ordinary checkpoint so every analysis can take it as ``--model``.
    """
    import torch

    from rnnscope.checkpoint import load_model, save_model
    from rnnscope.model import RecurrentLM

    trained, vocab = load_model(model)
    torch.manual_seed(int(seed))
    fresh = RecurrentLM(trained.config)
    return save_model(fresh, vocab, out, extra={"trained_with": "none (random init)",
                                                "random_init_of": str(model), "seed": int(seed)})


def lm_text(paths: str, out: str | Path, lowercase: bool = True) -> Path:
    """Concatenate word-level LM corpora (``.gz`` read transparently) into one training text.

    ``paths`` is comma-separated (PTB train, WikiText-2 train, ...). Lines are stripped, empty
    lines dropped (WikiText's blank separators would otherwise become runs of ``<eos>``), and
    everything is lowercased when ``lowercase`` (the PTB convention; the agreement tasks are
    then normalised to the same casing). Written outside the repository, deterministically.
    """
    from rnnscope.training.data import read_raw

    lower = str(lowercase).lower() not in ("0", "false", "no")
    lines: list[str] = []
    for path in (p for p in str(paths).split(",") if p):
        for line in read_raw(path).splitlines():
            line = " ".join(line.split())
            if line:
                lines.append(line.lower() if lower else line)
    if not lines:
        raise RnnscopeError(f"no text in {paths}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
