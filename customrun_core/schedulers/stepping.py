"""When a run's schedulers step (MMEngine's rule), written once: ``ParamSchedulerHook`` follows it
while training and ``customrun schedule`` follows it in its dry run.

- after each training iteration: the schedulers with ``by_epoch = false``;
- after each training epoch: those with ``by_epoch = true`` (a metric-driven scheduler's ``step()``
  there only counts the epoch and changes nothing);
- after each validation: ``step(metrics)`` of the metric-driven ones (``need_val_args``,
  ReduceOnPlateau), which is where they change values.

``schedulers`` is ``runner.param_schedulers``: a list, or a dict of lists (one per optimizer of an
``OptimWrapperDict``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["iter_schedulers", "needs_metrics", "step_after_epoch", "step_after_iter", "step_on_metrics"]


def iter_schedulers(schedulers: Any) -> Iterator[Any]:
    """Every scheduler of ``schedulers``, in order."""
    if not schedulers:
        return
    groups = schedulers.values() if isinstance(schedulers, Mapping) else [schedulers]
    for group in groups:
        yield from group


def needs_metrics(scheduler: Any) -> bool:
    """Whether ``scheduler`` is driven by validation metrics (MMEngine's ``need_val_args``)."""
    return bool(getattr(scheduler, "need_val_args", False))


def step_after_iter(schedulers: Any) -> None:
    """What follows a training iteration: the iteration-based schedulers step."""
    for scheduler in iter_schedulers(schedulers):
        if not scheduler.by_epoch and not needs_metrics(scheduler):
            scheduler.step()


def step_after_epoch(schedulers: Any) -> None:
    """What follows a training epoch: the epoch-based schedulers step."""
    for scheduler in iter_schedulers(schedulers):
        if scheduler.by_epoch:
            scheduler.step()


def step_on_metrics(schedulers: Any, metrics: Mapping[str, float]) -> None:
    """What follows a validation: the metric-driven schedulers step on ``metrics``."""
    for scheduler in iter_schedulers(schedulers):
        if scheduler.by_epoch and needs_metrics(scheduler):
            scheduler.step(metrics)
