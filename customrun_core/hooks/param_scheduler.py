"""ParamSchedulerHook: steps iteration-based schedulers after each iteration, epoch-based after each epoch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from customrun_core.hooks.base import Hook, Priority


def iter_schedulers(schedulers: Any) -> Iterator[Any]:
    """Every scheduler of ``runner.param_schedulers``: a list, or a dict of lists (one per optimizer)."""
    if not schedulers:
        return
    groups = schedulers.values() if isinstance(schedulers, dict) else [schedulers]
    for group in groups:
        yield from group


class ParamSchedulerHook(Hook):
    """Runs at LOW priority, so NORMAL hooks in ``after_train_iter`` still see the lr the step used."""

    priority = Priority.LOW

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        for scheduler in iter_schedulers(runner.param_schedulers):
            if not scheduler.by_epoch:
                scheduler.step()

    def after_train_epoch(self, runner: Any) -> None:
        for scheduler in iter_schedulers(runner.param_schedulers):
            if scheduler.by_epoch:
                scheduler.step()
