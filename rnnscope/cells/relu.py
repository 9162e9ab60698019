"""The Elman RNN with ReLU, as the PyTorch word-language-model example's ``RNN_RELU``.

The worked example of ``docs/cells.md``: a new family is one file like this one plus one
line in :mod:`rnnscope.cells.registry`. Everything else (recording, hooks, ablation,
patching, state gradients, connectivity) follows from what the cell says here.

    h_t = relu(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
"""
from __future__ import annotations

import torch

from rnnscope.cells.rnn import TanhRNN


class ReluRNN(TanhRNN):
    name = "rnn_relu"
    summary = "Elman RNN with ReLU (PyTorch nn.RNN, nonlinearity='relu')"
    nonlinearity = "relu"

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        return torch.relu(pre)

    def derivative(self, h: torch.Tensor) -> torch.Tensor:
        return (h > 0).to(h.dtype)
