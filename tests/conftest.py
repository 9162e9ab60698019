"""Shared fixtures: tiny models of every cell type, and the path of the shared corpora."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rnnscope.model import ModelConfig, RecurrentLM

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def tiny_model(cell: str = "lstm", layers: int = 2, hidden: int = 32, vocab: int = 50,
               emb: int = 16, seed: int = 0) -> RecurrentLM:
    """A small randomly initialised model with non-trivial recurrent weights."""
    from rnnscope.cells import get_cell

    torch.manual_seed(seed)
    proj = hidden // 2 if get_cell(cell).projects else 0  # lstm_proj: h is half as wide as c
    model = RecurrentLM(ModelConfig(vocab_size=vocab, cell=cell, emb_dim=emb,
                                    hidden_size=hidden, num_layers=layers, proj_size=proj))
    with torch.no_grad():  # larger weights than the default so gates saturate differently
        for layer in model.layers:
            for p in layer.parameters():
                p.mul_(3.0)
    return model.eval()


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny models run fastest single-threaded, and do not fight the other xdist worker for cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; tests using it skip with a clear reason where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared corpora not found at {SHARED_DATA}")
    return SHARED_DATA
