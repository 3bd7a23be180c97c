"""Seeding Python, NumPy and torch, and torch's deterministic mode."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int | None, deterministic: bool = False) -> int:
    """Seed every generator a run uses; a random seed is drawn (and returned) when ``seed`` is None."""
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return seed
