"""A multi-layer perceptron backbone, for the digits example and tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """``in_features -> hidden_features... -> num_classes`` with ReLU between, each hidden layer
    optionally followed by BatchNorm1d (``batch_norm``) and dropout."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden_features: Sequence[int] = (128,),
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for hidden in hidden_features:
            layers.append(nn.Linear(width, hidden))
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return super().forward(inputs)
