"""A plain PyTorch Dataset: no customrun class. Points around three centres, drawn from a seed."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class Blobs(Dataset):
    def __init__(self, size: int = 600, seed: int = 0, spread: float = 1.2) -> None:
        generator = torch.Generator().manual_seed(seed)
        centres = torch.tensor([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
        self.targets = torch.randint(0, len(centres), (size,), generator=generator)
        self.points = centres[self.targets] + spread * torch.randn(size, 2, generator=generator)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.points[index], self.targets[index]
