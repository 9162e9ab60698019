"""Profile one extraction: where the time of ``rnnscope.extract.extract`` goes (run by hand).

A 2x650 LSTM (vocabulary 10k, random weights) extracts every component of 64 sentences of
156 words (about 10k tokens) into a float16 store, once to warm up and once under cProfile;
the cumulative-time table shows the recurrence (``cells/lstm.py:time_loop``: the per-step
``addmm`` and the input projection ``project``), the zarr writes (``store.py:write``), the
planning (``plan_extraction``: alignment, token table, fingerprint) and the float16 cast.

Usage: ``python bench/extract_profile.py [--threads 1] [--lines 35]``
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile

import torch

from rnnscope.corpus.types import Corpus, Sentence
from rnnscope.extract import extract
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lines", type=int, default=35, help="rows of the profile table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = RecurrentLM(ModelConfig(vocab_size=10000, emb_dim=650, hidden_size=650,
                                    num_layers=2)).eval()
    tokens = torch.randint(0, 10000, (64, 157))
    vocab = Vocabulary("word", [f"w{i}" for i in range(9998)])
    corpus = Corpus([Sentence([vocab.itos[i] for i in row[1:].tolist()]) for row in tokens],
                    name="bench")
    with tempfile.TemporaryDirectory() as tmp:
        extract(model, vocab, corpus, f"{tmp}/warm", batch_size=64, progress=False)
        profile = cProfile.Profile()
        profile.enable()
        extract(model, vocab, corpus, f"{tmp}/s", batch_size=64, progress=False)
        profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.lines)


if __name__ == "__main__":
    main()
