"""scikit-learn's bundled 8x8 handwritten digits (1,797 images; nothing is downloaded)."""

from __future__ import annotations

from typing import Literal

import torch
from torch.utils.data import Dataset

from customrun_core.errors import ConfigError


class DigitsDataset(Dataset):
    """Images as 64 floats in [0, 1] and labels 0..9, split reproducibly into train and val.

    Args:
        split: ``"train"`` or ``"val"`` (``"test"`` is the val split, for ``customrun test``).
        val_fraction: share of the images held out for validation.
        seed: the permutation that decides the split (the same for every split of one seed).
    """

    def __init__(
        self, split: Literal["train", "val", "test"] = "train", val_fraction: float = 0.2, seed: int = 0
    ) -> None:
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            raise ConfigError(
                "DigitsDataset needs scikit-learn: pip install 'customrun-core[examples]'", key="type"
            ) from None
        if not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"expected a number between 0 and 1, got {val_fraction}", key="val_fraction")
        data = load_digits()
        images = torch.as_tensor(data.data, dtype=torch.float32) / 16.0
        labels = torch.as_tensor(data.target, dtype=torch.long)
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
        n_val = round(len(labels) * val_fraction)
        index = order[n_val:] if split == "train" else order[:n_val]
        self.images, self.labels = images[index], labels[index]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]
