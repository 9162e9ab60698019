"""Generate text from a language model: multinomial sampling at a temperature, argmax at 0.

>>> text = sample(model, vocab, prime="the", length=20, temperature=0.8, seed=1)  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from rnnscope.model import RecurrentLM
from rnnscope.vocab import Vocabulary

GREEDY_BELOW = 1e-6  # temperatures below this mean argmax


@torch.no_grad()
def sample_ids(model: RecurrentLM, prime_ids: list[int], length: int, temperature: float = 1.0,
               seed: int | None = None, exclude: Sequence[int] = ()) -> list[int]:
    """``length`` ids continuing ``prime_ids`` (at least one id), one step at a time.

    ``exclude``: ids never generated (e.g. ``<unk>``), as if their probability were 0.
    """
    if not prime_ids:
        raise ValueError("prime_ids must hold at least one id")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    banned = torch.as_tensor(list(exclude), dtype=torch.long)
    logits, state = model(torch.tensor([prime_ids]))
    last = logits[0, -1]
    out: list[int] = []
    for _ in range(length):
        if len(banned):
            last = last.clone()
            last[banned] = float("-inf")
        if temperature < GREEDY_BELOW:
            nxt = int(last.argmax())
        else:
            probs = torch.softmax(last.double() / temperature, dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=gen))
        out.append(nxt)
        logits, state = model(torch.tensor([[nxt]]), state)
        last = logits[0, -1]
    model.train(was_training)
    return out


def sample(model: RecurrentLM, vocab: Vocabulary, prime: str = "", length: int = 100,
           temperature: float = 1.0, seed: int | None = None, exclude: Sequence[int] = ()) -> str:
    """The text generated after ``prime`` (an empty prime starts a new line).

    Word-level output puts a newline where the model emits ``<eos>``.
    """
    units = vocab.units(prime)
    if vocab.kind == "word":
        prime_ids = [vocab.eos_id] + vocab.encode(units)
    else:  # char/byte streams never contain <eos>: an empty prime starts after a newline
        prime_ids = vocab.encode(units) or [vocab.stoi.get("\n", vocab.eos_id)]
    ids = sample_ids(model, prime_ids, length, temperature, seed, exclude)
    if vocab.kind != "word":
        return vocab.decode(ids)
    words = ["\n" if i == vocab.eos_id else vocab.itos[i] for i in ids]
    return " ".join(words).replace(" \n ", "\n").replace(" \n", "\n").replace("\n ", "\n")
