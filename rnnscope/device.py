"""Which device a model runs on: ``--device auto|cpu|cuda|mps`` and ``device=`` in the API.

``auto`` picks CUDA when PyTorch sees a GPU, else Apple's MPS, else the CPU. Analyses put every
tensor they create on the model's device (:func:`model_device`) and bring results back to
NumPy once, at the end; nothing here changes global state (no default device is set).
"""
from __future__ import annotations

import torch

from rnnscope.errors import RnnscopeError

CHOICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: "str | torch.device | None" = "auto") -> torch.device:
    """The ``torch.device`` for a ``--device`` value; a clear error when it is not there."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind = name.split(":", 1)[0]
    if kind not in CHOICES:
        raise RnnscopeError(f"unknown device {device!r}; choose {', '.join(CHOICES)} (or cuda:N)")
    if kind == "cuda" and not torch.cuda.is_available():
        raise RnnscopeError(f"--device {device}: PyTorch sees no CUDA GPU here "
                            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); "
                            "use --device cpu")
    if kind == "cuda" and ":" in name:
        index = name.split(":", 1)[1]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise RnnscopeError(f"--device {device}: there are {torch.cuda.device_count()} CUDA "
                                "device(s), numbered from 0")
    if kind == "mps" and not _mps_available():
        raise RnnscopeError(f"--device {device}: Apple's MPS backend is not available here; "
                            "use --device cpu")
    return torch.device(name)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s parameters (where the tensors an analysis makes must live)."""
    return next(model.parameters()).device


def available_devices() -> list[str]:
    """Devices this machine can run on: ``cpu`` plus ``cuda``/``mps`` when present (tests
    parametrise over these and skip the rest with a reason)."""
    out = ["cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if _mps_available():
        out.append("mps")
    return out
