"""Resumable training checkpoints: model + optimizer + RNG + position, written atomically.

Layout of ``<run>/checkpoint/`` (a symbolic link to a complete ``.ckpt-<batches>-<id>/``
folder; a new checkpoint is written beside it and the link is swapped in one atomic
``rename``, so ``checkpoint`` always names a complete copy; a kill at any point leaves at
least one complete copy that :func:`find_checkpoint` finds):

* ``model/`` — the current weights in our native format (:func:`rnnscope.checkpoint.save_model`);
* ``train_state.safetensors`` — tensors: optimizer state (``opt.<param>.<name>``), the torch RNG
  state (``rng.torch``) and the carried BPTT hidden state (``hidden.<layer>.<h|c>``);
* ``train_state.json`` — everything else: epoch, step in epoch, best valid loss, history,
  optimizer hyper-parameters and non-tensor optimizer state, the training config.

No pickle is involved anywhere.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from rnnscope.cells import get_cell
from rnnscope.checkpoint import load_native, save_model
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
                tensors[f"opt.{pid}.{name}"] = value.detach().cpu().contiguous()
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
            out[f"hidden.{n}.h"], out[f"hidden.{n}.c"] = (t.detach().cpu().contiguous() for t in layer)
        else:
            out[f"hidden.{n}.h"] = layer.detach().cpu().contiguous()
    return out


def hidden_from_flat(tensors: dict[str, torch.Tensor], layers: int, cell: str) -> list | None:
    """Inverse of :func:`hidden_to_flat` (None when no hidden state was saved)."""
    if "hidden.0.h" not in tensors:
        return None
    family = get_cell(cell)
    return [family.pack([tensors[f"hidden.{n}.{s}"][0] for s in family.state]) for n in range(layers)]


def save_training_checkpoint(run_dir: Path, model: RecurrentLM, vocab: Vocabulary,
                             optimizer: torch.optim.Optimizer, info: dict,
                             hidden: list | None) -> Path:
    """Write a new complete copy and point ``<run_dir>/checkpoint`` at it in one atomic step."""
    run_dir = Path(run_dir)
    name = f".ckpt-{int(info.get('total_steps', 0)):09d}-{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=run_dir))
    try:
        save_model(model, vocab, tmp / "model")
        tensors, opt_meta = optimizer_to_flat(optimizer)
        tensors.update(hidden_to_flat(hidden))
        tensors["rng.torch"] = torch.get_rng_state()
        save_file(tensors, str(tmp / "train_state.safetensors"))
        # train_state.json is written last: a copy holding it is complete
        _write_atomic(tmp / "train_state.json", json.dumps({**info, "optimizer": opt_meta}, indent=1))
        os.replace(tmp, run_dir / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    link = run_dir / CHECKPOINT
    if link.is_dir() and not link.is_symlink():  # a run written before links: keep it as a copy
        os.replace(link, run_dir / f".ckpt-legacy-{uuid.uuid4().hex[:8]}")
    tmp_link = run_dir / f".checkpoint-link-{uuid.uuid4().hex[:8]}"
    os.symlink(name, tmp_link)
    os.replace(tmp_link, link)  # the one atomic step
    for old in run_dir.glob(".ckpt-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return link


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _complete_copies(run_dir: Path) -> list[tuple[int, Path]]:
    """``(batches trained, folder)`` of every complete checkpoint copy in ``run_dir``."""
    found = []
    candidates = [run_dir / CHECKPOINT, *run_dir.glob(".ckpt-*"), *run_dir.glob(".checkpoint.*")]
    for folder in candidates:
        state = folder / "train_state.json"
        if not state.is_file() or not (folder / "train_state.safetensors").is_file():
            continue
        try:
            steps = int(json.loads(state.read_text()).get("total_steps", 0))
        except (ValueError, OSError, AttributeError, TypeError):
            continue
        found.append((steps, folder))
    return found


def find_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint copy of a run (``None`` when there is none).

    Normally ``<run>/checkpoint``; after a crash in the middle of a swap, the newest complete
    ``.ckpt-*`` copy (or the ``.checkpoint.*`` copies older versions left behind).
    """
    copies = _complete_copies(Path(run_dir))
    if not copies:
        return None
    best = max(s for s, _ in copies)
    newest = [f for s, f in copies if s == best]
    link = Path(run_dir) / CHECKPOINT
    return link if link in newest else sorted(newest)[-1]


def load_training_checkpoint(run_dir: Path) -> tuple[RecurrentLM, Vocabulary, dict, dict, list | None]:
    """``(model, vocab, optimizer_state_dict, info, hidden)`` of ``<run_dir>/checkpoint``."""
    ck = find_checkpoint(run_dir)
    if ck is None:
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
