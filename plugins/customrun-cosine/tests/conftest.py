"""Shared helpers: optimizers with given group values, and the values a schedule puts in them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

Trace = Callable[..., list[list[float]]]


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory, so default work_dirs never collide."""
    monkeypatch.chdir(tmp_path)


def lr(group: dict[str, Any]) -> float:
    return group["lr"]


def trace_values(
    optimizer: Any, schedulers: list[Any], steps: int, read: Callable[[dict[str, Any]], float] = lr
) -> list[list[float]]:
    """``read(group)`` of every group in effect at each of ``steps`` steps, the schedulers stepped
    after the optimizer (a no-op without gradients that keeps torch's order check quiet)."""
    seen = []
    for _ in range(steps):
        seen.append([read(group) for group in optimizer.param_groups])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return seen


@pytest.fixture
def trace() -> Trace:
    """:func:`trace_values`."""
    return trace_values


@pytest.fixture
def sgd() -> Callable[..., torch.optim.SGD]:
    """``sgd(0.1, 0.05, momentum=0.9)``: SGD with one parameter group per lr."""

    def make(*lrs: float, **defaults: Any) -> torch.optim.SGD:
        groups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": value} for value in lrs]
        return torch.optim.SGD(groups, **defaults)

    return make
