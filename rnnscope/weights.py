"""Loading a state dict into a :class:`~rnnscope.model.RecurrentLM`, checked tensor by tensor.

Shared by our own checkpoint format (:mod:`rnnscope.checkpoint`) and the importers of other
tools' checkpoints (:mod:`rnnscope.importers`), so a bad file is described the same way
whatever it came from: the first missing, unexpected, mis-shaped, non-float or non-finite
tensor, by name.
"""
from __future__ import annotations

import torch

from rnnscope.errors import CheckpointError
from rnnscope.model import RecurrentLM


def load_state_checked(model: RecurrentLM, tensors: dict[str, torch.Tensor], source: str,
                       check_only: bool = False) -> None:
    """Load ``tensors`` into ``model``, naming the first missing/unexpected/mis-shaped tensor
    or one holding NaN/inf (``check_only``: only check names, dtypes and shapes, e.g. against
    a meta-device model, and load nothing)."""
    expected = model.state_dict()
    if model.config.tie_weights:
        tensors = dict(tensors)
        tensors.setdefault("decoder.weight", tensors.get("encoder.weight"))
    missing = [k for k in expected if k not in tensors]
    extra = [k for k in tensors if k not in expected]
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"{source}: weights do not match the config ({what})")
    for k, v in expected.items():
        if not tensors[k].is_floating_point():
            raise CheckpointError(f"{source}: {k} holds {tensors[k].dtype} values; weights must "
                                  "be floating point")
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{source}: {k} has shape {tuple(tensors[k].shape)} but the "
                                  f"config implies {tuple(v.shape)}")
        if not check_only and not bool(torch.isfinite(tensors[k]).all()):
            bad = int((~torch.isfinite(tensors[k])).sum())
            raise CheckpointError(f"{source}: {k} holds {bad} NaN or inf value"
                                  f"{'s' if bad != 1 else ''}")
    if check_only:
        return
    model.load_state_dict({k: t.to(v.dtype) for k, (t, v) in
                           ((k, (tensors[k], v)) for k, v in expected.items())})
