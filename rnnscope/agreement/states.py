"""Record unit activity over the words of short sentences (each from a fresh state).

Each sentence is fed as ``[<eos>] + words`` from a zero state (``<eos>`` acts as the beginning
of sentence) and the components are read at the word positions: row ``j`` of the returned
array is the state after reading word ``j``. Sentences are batched by length (no padding).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rnnscope.device import model_device
from rnnscope.errors import RnnscopeError
from rnnscope.keys import all_keys, parse_key
from rnnscope.model import RecurrentLM
from rnnscope.vocab import Vocabulary


def sentence_states(model: RecurrentLM, vocab: Vocabulary, sentences: Sequence[Sequence[str]],
                    keys: Sequence[str] | None = None, batch_size: int = 256
                    ) -> dict[str, list[np.ndarray]]:
    """``{key: [array [len(words), H] per sentence]}`` for ``keys`` (default all of the model)."""
    keys = list(keys) if keys else all_keys(model.cell, model.config.num_layers)
    comps = sorted({parse_key(k)[1] for k in keys})
    for k in keys:
        layer, comp = parse_key(k)
        if layer > model.config.num_layers or comp not in model.components:
            raise RnnscopeError(f"the model has no {k}")
    if vocab.kind != "word":
        raise RnnscopeError(f"this analysis reads words; the vocabulary is {vocab.kind}-level")
    lengths = np.array([len(s) for s in sentences])
    if (lengths == 0).any():
        raise RnnscopeError(f"sentence {int(np.flatnonzero(lengths == 0)[0])} is empty")
    out: dict[str, list] = {k: [None] * len(sentences) for k in keys}
    model = model.eval()
    with torch.no_grad():
        for length in np.unique(lengths):
            idx = np.flatnonzero(lengths == length)
            for start in range(0, len(idx), batch_size):
                part = idx[start: start + batch_size]
                tok = torch.tensor([[vocab.eos_id] + vocab.encode(sentences[i]) for i in part],
                                   device=model_device(model))
                _, states, _ = model.run_with_states(tok, components=comps, compute_logits=False)
                for k in keys:
                    arr = states[k][:, 1:].float().cpu().numpy()
                    for j, i in enumerate(part):
                        out[k][i] = arr[j]
    return out


def units_key_matrix(states: dict[str, list[np.ndarray]], units: Sequence[tuple[int, int]],
                     component: str, rows: Sequence[int] | None = None) -> np.ndarray:
    """Stack ``component`` of ``units`` ((layer, unit) pairs) into ``[sentences, T, units]``.

    All selected sentences must have the same length.
    """
    from rnnscope.keys import key

    first = states[key(units[0][0], component)]
    rows = list(range(len(first))) if rows is None else list(rows)
    lengths = {first[i].shape[0] for i in rows}
    if len(lengths) != 1:
        raise RnnscopeError(f"sentences have different lengths {sorted(lengths)}; "
                            "choose items of one task (one structure)")
    cols = [np.stack([states[key(n, component)][i][:, u] for i in rows]) for n, u in units]
    return np.stack(cols, axis=-1)
