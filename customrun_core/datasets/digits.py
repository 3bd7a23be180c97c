"""scikit-learn's bundled 8x8 handwritten digits (1,797 images; nothing is downloaded)."""

from __future__ import annotations

from typing import Literal

import torch
from torch.utils.data import Dataset

from customrun_core.errors import ConfigError


class DigitsDataset(Dataset):
    """Images as 64 floats in [0, 1] and labels 0..9, split reproducibly into three disjoint parts.

    One permutation of the 1,797 images (drawn from ``seed``) decides the splits: its first
    ``round(1797 * val_fraction)`` images are held out, and the rest (1,438 by default) are
    ``"train"``. The held-out images are halved: the first half (180 by default) is ``"val"``, the
    second (179) is ``"test"``, which ``customrun test`` evaluates on and training never sees.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        val_fraction: share of the images held out from training, for validation and test together.
        seed: the permutation that decides the split (the same for every split of one seed).

    Attributes:
        indices: the positions of this split's images in ``sklearn.datasets.load_digits()``.
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
        held_out = round(len(labels) * val_fraction)
        n_val = held_out - held_out // 2  # val takes the odd image out
        if held_out < 2:
            raise ConfigError(
                f"expected a val_fraction that holds out at least 2 of {len(labels)} images (one for val,"
                f" one for test), got {val_fraction}",
                key="val_fraction",
            )
        parts = {"train": order[held_out:], "val": order[:n_val], "test": order[n_val:held_out]}
        if split not in parts:
            raise ConfigError(f"expected one of {', '.join(map(repr, parts))}, got {split!r}", key="split")
        self.indices: list[int] = parts[split].tolist()  # which of sklearn's images, in order
        self.images, self.labels = images[parts[split]], labels[parts[split]]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index], self.labels[index]
