"""A multi-layer perceptron backbone, for the digits example and tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """``in_features -> hidden_features... -> num_classes`` with ReLU (and optional dropout) between."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        hidden_features: Sequence[int] = (128,),
        dropout: float = 0.0,
    ) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for hidden in hidden_features:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        super().__init__(*layers)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return super().forward(inputs)
