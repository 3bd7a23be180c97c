"""IterTimerHook: time per iteration and time spent waiting for data."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from customrun_core.hooks.base import Hook, Priority

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView


class IterTimerHook(Hook):
    """Records ``data_time`` (waiting for the batch) and ``time`` (the whole iteration) in
    ``runner.scalars``; the logger derives the ETA from them."""

    priority = Priority.NORMAL

    def __init__(self) -> None:
        self._last = time.perf_counter()

    def before_train_epoch(self, runner: RunnerView) -> None:
        self._last = time.perf_counter()

    def before_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any = None) -> None:
        runner.scalars.update("data_time", time.perf_counter() - self._last)

    def after_train_iter(
        self, runner: RunnerView, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        now = time.perf_counter()
        runner.scalars.update("time", now - self._last)
        self._last = now
