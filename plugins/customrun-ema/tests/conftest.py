"""Shared fixtures: short CPU trainings through customrun's testing plugin (``-p customrun_core.testing``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

# 2 training iterations per epoch (1,438 digits / 719), one validation and one test batch
FAST = [
    "train_dataloader.batch_size=719",
    "val_dataloader.batch_size=359",
    "test_dataloader.batch_size=359",
    "default_hooks.logger=false",
]


@pytest.fixture
def train(customrun_run: Callable[..., Any]) -> Callable[..., Any]:
    """``train(*hooks, epochs=2, **changes)``: a ``customrun_run`` of ``epochs`` epochs of 2 iterations
    (unless ``changes`` give another ``train_cfg``)."""

    def run(*hooks: Any, epochs: int = 2, **changes: Any) -> Any:
        loop = changes.pop("train_cfg", {"type": "EpochBasedTrainLoop", "max_epochs": epochs})
        return customrun_run(hooks=hooks, overrides=FAST, train_cfg=loop, **changes)

    return run


@pytest.fixture
def evaluate(customrun_run: Callable[..., Any]) -> Callable[..., Any]:
    """``evaluate(mode, *hooks, **changes)``: a ``customrun_run`` in ``"val"`` or ``"test"`` mode."""

    def run(mode: str, *hooks: Any, **changes: Any) -> Any:
        return customrun_run(hooks=hooks, mode=mode, overrides=FAST, **changes)

    return run
