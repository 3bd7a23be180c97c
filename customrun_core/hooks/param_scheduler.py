"""ParamSchedulerHook: steps iteration-based schedulers after each iteration, epoch-based after each
epoch, and metric-driven ones (``need_val_args``, ReduceOnPlateau) after each validation."""

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


def needs_metrics(scheduler: Any) -> bool:
    """Whether ``scheduler`` is driven by validation metrics (MMEngine's ``need_val_args``)."""
    return bool(getattr(scheduler, "need_val_args", False))


class ParamSchedulerHook(Hook):
    """Runs at LOW priority, so NORMAL hooks in ``after_train_iter`` still see the lr the step used.

    As MMEngine: after each training iteration it steps the schedulers with ``by_epoch = false``;
    after each training epoch those with ``by_epoch = true`` (a metric-driven scheduler's
    ``step()`` there only counts the epoch and changes nothing); after each validation it calls
    ``step(metrics)`` on the metric-driven ones, which is where they change values.
    """

    priority = Priority.LOW

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        for scheduler in iter_schedulers(runner.param_schedulers):
            if not scheduler.by_epoch and not needs_metrics(scheduler):
                scheduler.step()

    def after_train_epoch(self, runner: Any) -> None:
        for scheduler in iter_schedulers(runner.param_schedulers):
            if scheduler.by_epoch:
                scheduler.step()

    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        if metrics is None:
            return
        for scheduler in iter_schedulers(runner.param_schedulers):
            if scheduler.by_epoch and needs_metrics(scheduler):
                scheduler.step(metrics)
