"""RuntimeInfoHook: records the learning rate and the step's outputs for the logger."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from customrun_core.hooks.base import Hook, Priority

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView


class RuntimeInfoHook(Hook):
    """Puts into ``runner.scalars``, before each step, the lr of every optimizer (first group as
    ``lr``, as MMEngine; its latest value, not a window) and after it every value ``train_step``
    returned and every value of the wrapper's ``log_values()`` (``grad_norm`` when clipping by
    norm, the AMP loss scale, ...)."""

    priority = Priority.VERY_HIGH

    def before_train_iter(self, runner: RunnerView, batch_idx: int, data_batch: Any = None) -> None:
        assert runner.optim_wrapper is not None  # set while training
        for name, values in runner.optim_wrapper.get_lr().items():
            runner.scalars.set_latest(name, values[0])

    def after_train_iter(
        self, runner: RunnerView, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        for name, value in (outputs or {}).items():
            runner.scalars.update(name, value)
        log_values = getattr(runner.optim_wrapper, "log_values", None)
        for name, value in (log_values() if log_values is not None else {}).items():
            runner.scalars.update(name, value)
