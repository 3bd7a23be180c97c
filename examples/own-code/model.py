"""A plain PyTorch model: no customrun class. In training, forward(inputs, targets) returns the loss;
otherwise forward(inputs) returns the logits (what the evaluator reads)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BlobNet(nn.Module):
    def __init__(self, in_features: int = 2, hidden: int = 32, num_classes: int = 3) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.layers(inputs)
        return logits if targets is None else F.cross_entropy(logits, targets)
