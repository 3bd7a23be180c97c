"""Shared fixtures: a small deterministic model and its data; CUDA tests skip without a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

INPUTS = torch.linspace(-1.0, 1.0, 48).reshape(12, 4)
TARGETS = torch.linspace(0.5, -0.5, 24).reshape(12, 2)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory, so default work_dirs never collide."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def model() -> nn.Module:
    """Linear(4, 3) -> ReLU -> Linear(3, 2) with fixed weights, float32 on the CPU."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


@pytest.fixture
def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Six batches of two samples."""
    return [(INPUTS[i : i + 2], TARGETS[i : i + 2]) for i in range(0, 12, 2)]
