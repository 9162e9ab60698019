"""Whether this CPU can train in bfloat16, and the autocast context to use.

bfloat16 autocast on an LSTM needs oneDNN kernels that exist only on CPUs with native bf16
(AVX-512 BF16 / AMX). On other CPUs (for example AVX2-only AMD EPYC machines) the fused LSTM
raises a oneDNN ``RuntimeError`` at the first batch. :func:`cpu_bf16_supported` runs one tiny
LSTM forward and backward under autocast, once per process, and says whether it worked;
:func:`training_autocast` falls back to float32 with a notice where it did not.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch


@functools.lru_cache(maxsize=1)
def cpu_bf16_supported() -> bool:
    """True when a bf16-autocast LSTM forward and backward runs on this CPU (probed once)."""
    try:
        with torch.random.fork_rng(devices=[]):
            layer = torch.nn.LSTM(4, 4, batch_first=True)
            x = torch.randn(2, 3, 4)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out, _ = layer(x)
            out.float().sum().backward()
        return True
    except RuntimeError:
        return False


def training_autocast(bf16: bool, say: Callable[[str], None] | None = None,
                      device_type: str = "cpu") -> tuple[Callable[[], AbstractContextManager], bool]:
    """``(context factory, bf16 actually used)`` for the training forward pass.

    Asking for bf16 on a CPU (or GPU) without support gives float32 and one notice through
    ``say`` (and a ``RuntimeWarning`` when no ``say`` is given), never a crash.
    """
    if not bf16:
        return nullcontext, False
    on_gpu = device_type == "cuda"
    if torch.cuda.is_bf16_supported() if on_gpu else cpu_bf16_supported():
        return (lambda: torch.autocast(device_type, dtype=torch.bfloat16)), True
    notice = ("notice: this GPU has no bfloat16 support; training in float32 instead of bf16"
              if on_gpu else "notice: this CPU has no bfloat16 support for LSTM kernels "
              "(oneDNN); training in float32 instead of bf16")
    if say is not None:
        say(notice)
    else:
        warnings.warn(notice, RuntimeWarning, stacklevel=2)
    return nullcontext, False
