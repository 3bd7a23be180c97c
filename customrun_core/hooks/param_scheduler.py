"""ParamSchedulerHook: steps the run's schedulers by the rule of
:mod:`customrun_core.schedulers.stepping` (iteration-based after each iteration, epoch-based after
each epoch, metric-driven ones after each validation)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from customrun_core.hooks.base import Hook, Priority
from customrun_core.schedulers.stepping import step_after_epoch, step_after_iter, step_on_metrics

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView


class ParamSchedulerHook(Hook):
    """Runs at LOW priority, so NORMAL hooks in ``after_train_iter`` still see the lr the step used."""

    priority = Priority.LOW

    def after_train_iter(
        self, runner: RunnerView, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        step_after_iter(runner.param_schedulers)

    def after_train_epoch(self, runner: RunnerView) -> None:
        step_after_epoch(runner.param_schedulers)

    def after_val_epoch(self, runner: RunnerView, metrics: dict | None = None) -> None:
        if metrics is not None:
            step_on_metrics(runner.param_schedulers, metrics)
