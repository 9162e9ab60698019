"""Our checkpoint format: a folder with ``config.json``, ``model.safetensors``, ``vocab.json``.

Loading never unpickles. :func:`load_model` also accepts the foreign checkpoints that
:mod:`rnnscope.importers` understands (a plain state dict with a vocabulary file, the pickled
colorlessgreen ``RNNModel``), so every command taking ``--model`` takes those directly.
Writes are atomic: files go to a temporary folder that is renamed into place.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.overrides import TorchFunctionMode

from rnnscope.errors import CheckpointError, RnnscopeError, brief
from rnnscope.model import ModelConfig, RecurrentLM
from rnnscope.vocab import Vocabulary
from rnnscope.weights import load_state_checked

FORMAT = "rnnscope-checkpoint-1"


def save_model(model: RecurrentLM, vocab: Vocabulary, path: str | Path,
               extra: dict | None = None) -> Path:
    """Write ``model`` and ``vocab`` to folder ``path`` atomically; ``extra`` goes into config.json."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        if model.config.tie_weights:
            tensors.pop("decoder.weight", None)  # shared with encoder.weight
        save_file(tensors, str(tmp / "model.safetensors"))
        config = {"format": FORMAT, "model": model.config.to_dict(), **(extra or {})}
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        vocab.save(tmp / "vocab.json")
        _replace_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _replace_dir(src: Path, dst: Path) -> None:
    """Move folder ``src`` to ``dst``, replacing any old ``dst`` with a rename, never half-written."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def is_native(path: str | Path) -> bool:
    """True when ``path`` is a folder in our format."""
    p = Path(path)
    return p.is_dir() and (p / "config.json").exists() and (p / "model.safetensors").exists()


def read_config(path: str | Path) -> dict:
    """The parsed ``config.json`` of a native checkpoint folder."""
    p = Path(path) / "config.json"
    try:
        config = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{p}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: JSON errors, huge ints
        raise CheckpointError(f"{p}: cannot read checkpoint config ({brief(exc)})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT \
            or not isinstance(config.get("model"), dict):
        raise CheckpointError(f"{p}: not an rnnscope checkpoint config")
    return config


def load_native(path: str | Path) -> tuple[RecurrentLM, Vocabulary]:
    """Load a folder in our format; shapes are checked against the config before loading."""
    p = Path(path)
    config = read_config(p)
    required = [f.name for f in dataclasses.fields(ModelConfig)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in config["model"]]
    if missing:
        raise CheckpointError(f"{p / 'config.json'}: model {missing[0]} is missing")
    try:
        model_config = ModelConfig.from_dict(config["model"])
    except RnnscopeError as exc:
        raise CheckpointError(f"{p / 'config.json'}: {exc}") from None
    try:
        tensors = load_file(str(p / "model.safetensors"))
    except Exception as exc:  # safetensors raises several types on corrupt files
        raise CheckpointError(f"{p / 'model.safetensors'}: cannot read weights "
                              f"({brief(exc)})") from None
    # Check names and shapes against the config on a model without storage first, so a config
    # asking for sizes the weights do not have never allocates them.
    try:
        shell = _shell(model_config)
    except Exception as exc:  # torch's modules refuse some settings from_dict lets through
        raise CheckpointError(f"{p / 'config.json'}: cannot build the model it describes "
                              f"({type(exc).__name__}: {brief(exc, 100)})") from None
    load_state_checked(shell, tensors, source=str(p), check_only=True)
    try:
        model = RecurrentLM(model_config)
    except (RuntimeError, MemoryError) as exc:  # sizes that cannot be allocated here
        raise CheckpointError(f"{p / 'config.json'}: cannot build the model it describes "
                              f"({type(exc).__name__}: {brief(exc, 100)})") from None
    load_state_checked(model, tensors, source=str(p))
    vocab = Vocabulary.load(p / "vocab.json")
    if len(vocab) != model.config.vocab_size:
        raise CheckpointError(f"{p}: vocabulary has {len(vocab)} entries but the model "
                              f"expects {model.config.vocab_size}")
    model.eval()
    return model, vocab


class _SkipInit(TorchFunctionMode):
    """Inside: ``torch.nn.init`` functions return their tensor untouched. Initialising meta
    tensors is pointless, and ``normal_`` on the meta device runs a Python decomposition whose
    first call imports ``torch._dynamo`` (~0.8 s, paid by every ``load_model``)."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__module__", None) == "torch.nn.init":
            return args[0] if args else (kwargs or {}).get("tensor")
        return func(*args, **(kwargs or {}))


def _shell(config: ModelConfig) -> RecurrentLM:
    """The model of ``config`` on the meta device: its state dict's names and shapes, no data."""
    import warnings

    with warnings.catch_warnings(), torch.device("meta"), _SkipInit():
        warnings.simplefilter("ignore")  # "initializing zero-element tensors is a no-op"
        return RecurrentLM(config)


def load_model(path: str | Path, vocab: str | Path | None = None,
               trust_pickle: bool = False) -> tuple[RecurrentLM, Vocabulary]:
    """Load our format, or import a foreign checkpoint (see :mod:`rnnscope.importers`)."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"model not found: {p}")
    if is_native(p):
        return load_native(p)
    if p.is_dir() and is_native(p / "model"):  # a training run folder
        return load_native(p / "model")
    from rnnscope.importers import import_checkpoint  # foreign formats (one-way dependency)

    return import_checkpoint(p, vocab=vocab, trust_pickle=trust_pickle)
