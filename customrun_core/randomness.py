"""Seeding Python, NumPy and torch, and torch's deterministic mode."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def draw_seed() -> int:
    """A fresh random seed, for a config that sets none (MMEngine draws one too)."""
    return random.SystemRandom().randrange(2**31)


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed every generator a run uses (Python, NumPy, torch) and return the seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return seed
