"""Resumable training checkpoints: model + optimizer + RNG + position, written atomically.

Layout of ``<run>/checkpoint/`` (replaced as a whole by one rename, so it is never half-written):

* ``model/`` — the current weights in our native format (:func:`rnnscope.checkpoint.save_model`);
* ``train_state.safetensors`` — tensors: optimizer state (``opt.<param>.<name>``), the torch RNG
  state (``rng.torch``) and the carried BPTT hidden state (``hidden.<layer>.<h|c>``);
* ``train_state.json`` — everything else: epoch, step in epoch, best valid loss, history,
  optimizer hyper-parameters and non-tensor optimizer state, the training config.

No pickle is involved anywhere.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from rnnscope.checkpoint import _replace_dir, load_native, save_model
from rnnscope.errors import CheckpointError
from rnnscope.model import RecurrentLM
from rnnscope.vocab import Vocabulary

CHECKPOINT = "checkpoint"


def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into safetensors-able tensors and JSON-able rest."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, st in sd["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{name}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_flat(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of :func:`optimizer_to_flat`: an optimizer ``state_dict``."""
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    for pid, st in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(st)
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def hidden_to_flat(hidden: list | None) -> dict[str, torch.Tensor]:
    """``hidden.<n>.h`` / ``hidden.<n>.c`` tensors of a per-layer state (empty when None)."""
    out: dict[str, torch.Tensor] = {}
    for n, layer in enumerate(hidden or []):
        if isinstance(layer, tuple):
            out[f"hidden.{n}.h"], out[f"hidden.{n}.c"] = (t.contiguous() for t in layer)
        else:
            out[f"hidden.{n}.h"] = layer.contiguous()
    return out


def hidden_from_flat(tensors: dict[str, torch.Tensor], layers: int, cell: str) -> list | None:
    """Inverse of :func:`hidden_to_flat` (None when no hidden state was saved)."""
    if "hidden.0.h" not in tensors:
        return None
    if cell == "lstm":
        return [(tensors[f"hidden.{n}.h"], tensors[f"hidden.{n}.c"]) for n in range(layers)]
    return [tensors[f"hidden.{n}.h"] for n in range(layers)]


def save_training_checkpoint(run_dir: Path, model: RecurrentLM, vocab: Vocabulary,
                             optimizer: torch.optim.Optimizer, info: dict,
                             hidden: list | None) -> Path:
    """Write ``<run_dir>/checkpoint`` atomically (see the module docstring)."""
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint.", dir=run_dir))
    try:
        save_model(model, vocab, tmp / "model")
        tensors, opt_meta = optimizer_to_flat(optimizer)
        tensors.update(hidden_to_flat(hidden))
        tensors["rng.torch"] = torch.get_rng_state()
        save_file(tensors, str(tmp / "train_state.safetensors"))
        (tmp / "train_state.json").write_text(json.dumps({**info, "optimizer": opt_meta}, indent=1))
        _replace_dir(tmp, run_dir / CHECKPOINT)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run_dir / CHECKPOINT


def load_training_checkpoint(run_dir: Path) -> tuple[RecurrentLM, Vocabulary, dict, dict, list | None]:
    """``(model, vocab, optimizer_state_dict, info, hidden)`` of ``<run_dir>/checkpoint``."""
    ck = Path(run_dir) / CHECKPOINT
    if not (ck / "train_state.json").exists():
        raise CheckpointError(f"nothing to resume: no training checkpoint in {run_dir}")
    model, vocab = load_native(ck / "model")
    try:
        info = json.loads((ck / "train_state.json").read_text())
        tensors = load_file(str(ck / "train_state.safetensors"))
    except Exception as exc:  # corrupt JSON / safetensors
        raise CheckpointError(f"{ck}: cannot read training state ({exc})") from None
    torch.set_rng_state(tensors["rng.torch"])
    opt_state = optimizer_from_flat(tensors, info.pop("optimizer"))
    hidden = hidden_from_flat(tensors, model.config.num_layers, model.config.cell)
    return model, vocab, opt_state, info, hidden
