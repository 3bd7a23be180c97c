"""The base class of hooks and MMEngine's priority scale."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from customrun_core.errors import HookError, closest

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView


class Priority(enum.IntEnum):
    """MMEngine's hook priorities: a lower number runs first; ties run in the order hooks were added."""

    HIGHEST = 0
    VERY_HIGH = 10
    HIGH = 30
    ABOVE_NORMAL = 40
    NORMAL = 50
    BELOW_NORMAL = 60
    LOW = 70
    VERY_LOW = 90
    LOWEST = 100


def get_priority(value: Any) -> int:
    """An int in [0, 100] from a :class:`Priority`, its name (any case) or an int.

    Raises:
        HookError: for an unknown name, an int out of range or another type.
    """
    if isinstance(value, bool):
        raise HookError(f"expected a priority name or an integer 0..100, got boolean {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= 100:
            raise HookError(f"expected a priority between 0 and 100, got {value}")
        return int(value)
    if isinstance(value, str):
        try:
            return Priority[value.upper()].value
        except KeyError:
            raise HookError(
                f"expected a priority name ({', '.join(Priority.__members__)}) or 0..100, got {value!r}",
                suggestions=closest(value.upper(), Priority.__members__),
            ) from None
    raise HookError(f"expected a priority name or an integer 0..100, got {type(value).__name__}")


class Hook:
    """Base class of hooks: a subclass defines plain methods named after hook points.

    ::

        class NewHook(Hook):
            def __init__(self, a, b):
                self.a, self.b = a, b

            def before_train_iter(self, runner, batch_idx, data_batch=None):
                unwrap_model(runner.model).hyper_parameter = self.a * runner.iter + self.b

    The names and arguments of the hook points are in :mod:`customrun_core.hookspecs`. A method
    named ``before_*`` or ``after_*`` that is not a hook point is refused when the hook is
    registered, with the closest name. ``priority`` (class attribute, or the config's ``priority``
    key, which wins) places the hook among the others. A hook built from the config is registered
    only where :meth:`wanted` says so.
    """

    priority: int | str | Priority = Priority.NORMAL

    def wanted(self, rank: int) -> bool:
        """Whether this hook, just built from the config, is registered on the process ``rank``.

        False leaves it out of the run altogether, so that it costs no dispatch time (the progress
        bar outside a terminal, or on ranks other than 0). The default: every process.
        """
        return True

    # MMEngine's helpers, with its 0-based counters.
    def every_n_epochs(self, runner: RunnerView, n: int, start: int = 0) -> bool:
        done = runner.epoch + 1 - start
        return n > 0 and done >= 0 and done % n == 0

    def every_n_train_iters(self, runner: RunnerView, n: int, start: int = 0) -> bool:
        done = runner.iter + 1 - start
        return n > 0 and done >= 0 and done % n == 0

    def every_n_inner_iters(self, batch_idx: int, n: int) -> bool:
        return n > 0 and (batch_idx + 1) % n == 0

    def end_of_epoch(self, dataloader: Any, batch_idx: int) -> bool:
        return batch_idx + 1 == len(dataloader)

    def is_last_train_epoch(self, runner: RunnerView) -> bool:
        return runner.epoch + 1 == runner.max_epochs

    def is_last_train_iter(self, runner: RunnerView) -> bool:
        return runner.iter + 1 == runner.max_iters
