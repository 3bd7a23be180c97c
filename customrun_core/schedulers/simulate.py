"""The values a run's schedulers will set, computed without training (``customrun schedule``).

The model, the optim wrapper, the train loop and the schedulers are the real ones, built from the
config as the runner builds them; the schedulers are then stepped exactly as ``ParamSchedulerHook``
steps them (iteration-based after every iteration, epoch-based after every epoch), with no
training step. No data is read: the train dataloader is built only for its length, and not at
all when the epoch length is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from customrun_core import plugins
from customrun_core.build import build
from customrun_core.config import RunConfig
from customrun_core.errors import ConfigError
from customrun_core.hooks.param_scheduler import needs_metrics
from customrun_core.loops.selection import train_loop_table
from customrun_core.schedulers.build import build_param_schedulers, coverage_warnings, scheduler_tables

T = TypeVar("T")


@dataclass
class Schedule:
    """Every scheduled value of a run.

    Attributes:
        iters_per_epoch: the epoch length the schedulers were built with (``convert_to_iter_based``
            scales by it); the length of the train dataloader unless given.
        max_iters: the run's iterations.
        by_epoch: whether the loop is epoch-based; an iteration-based loop is one epoch long.
        values: for each scheduled group key (``lr``, ``momentum``, ...), ``values[key][i][g]``
            is the value in the optimizer's group ``g`` during iteration ``i``, what it holds
            when ``before_train_iter`` fires.
        notes: schedulers the simulation holds (those stepped on validation metrics).
        warnings: the start-of-training warnings about the schedule's coverage of the run.
    """

    iters_per_epoch: int
    max_iters: int
    by_epoch: bool
    values: dict[str, list[list[float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """``{"iters_per_epoch": E, "max_iters": N, "values": {...}}``."""
        return {"iters_per_epoch": self.iters_per_epoch, "max_iters": self.max_iters, "values": self.values}


class _Length:
    """Stands in for the train dataloader where only its length is read (the loop's constructor)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Any:
        raise RuntimeError("a schedule simulation reads no data")


def _located(cfg: RunConfig, make: Callable[[], T], key: str | None = None) -> T:
    try:
        return make()
    except ConfigError as error:
        raise error.located(file=cfg.source, key_prefix=key) from error


def _required(cfg: RunConfig, name: str) -> Any:
    value = getattr(cfg, name)
    if value is None:
        raise ConfigError("required to compute the schedule", file=cfg.source, key=name)
    return value


def _epoch_length(cfg: RunConfig) -> int:
    from customrun_core.datasets.loader import build_dataloader

    table = _required(cfg, "train_dataloader")
    return len(build_dataloader(table, "train_dataloader", cfg.source, seed=0))


def build_for_schedule(cfg: RunConfig, iters_per_epoch: int | None = None) -> tuple[Any, Any, list[Any], int]:
    """The optim wrapper, the train loop (over a stand-in dataloader), the schedulers and the epoch
    length, built as the runner builds them."""
    from customrun_core.optim import build_optim_wrapper
    from customrun_core.optim.wrapper_dict import is_per_submodule

    plugins.import_custom_modules(
        cfg.custom_imports.imports, cfg.custom_imports.allow_failed_imports, cfg.source
    )
    optim_cfg = _required(cfg, "optim_wrapper")
    if is_per_submodule(optim_cfg):
        raise ConfigError(
            "customrun schedule handles one optimizer; this config has one per submodule",
            file=cfg.source,
            key="optim_wrapper",
        )
    train_cfg = _required(cfg, "train_cfg")
    model = _located(cfg, lambda: build("models", cfg.model, key="model"))
    wrapper = _located(cfg, lambda: build_optim_wrapper(model, optim_cfg), "optim_wrapper")
    length = iters_per_epoch if iters_per_epoch is not None else _located(cfg, lambda: _epoch_length(cfg))
    table, loop_type = _located(cfg, lambda: train_loop_table(train_cfg), "train_cfg")
    loop = _located(
        cfg,
        lambda: build(
            "loops", table, key="train_cfg", default_type=loop_type, runner=None, dataloader=_Length(length)
        ),
    )
    schedulers = _located(
        cfg,
        lambda: build_param_schedulers(cfg.param_scheduler, wrapper, length, loop.max_epochs, loop.max_iters),
    )
    return wrapper, loop, schedulers, length


def simulate_schedule(cfg: RunConfig, iters_per_epoch: int | None = None) -> Schedule:
    """Every scheduled value at every iteration of the run ``cfg`` describes.

    Args:
        cfg: the run's config.
        iters_per_epoch: the epoch length; by default ``len(train_dataloader)``, for which the
            train dataset is built (with this, it is not).

    Raises:
        ConfigError: a missing or wrong part of the config, located in its file.
    """
    if iters_per_epoch is not None and iters_per_epoch < 1:
        raise ConfigError(f"expected an integer >= 1, got {iters_per_epoch}", key="--iters-per-epoch")
    wrapper, loop, schedulers, length = build_for_schedule(cfg, iters_per_epoch)
    by_epoch = bool(getattr(loop, "by_epoch", True))
    schedule = Schedule(iters_per_epoch=length, max_iters=loop.max_iters, by_epoch=by_epoch)
    schedule.warnings = coverage_warnings(cfg.param_scheduler, schedulers, loop.max_epochs, loop.max_iters)
    for (key, _), scheduler in zip(scheduler_tables(cfg.param_scheduler), schedulers, strict=True):
        if needs_metrics(scheduler):
            schedule.notes.append(
                f"{key} ({type(scheduler).__name__}) changes {scheduler.param_name} on validation "
                "metrics, which a simulation does not have: its values are held"
            )
    groups = getattr(wrapper, "optimizer", wrapper).param_groups  # the real groups, not a base group
    keys = list(dict.fromkeys(scheduler.param_name for scheduler in schedulers))
    schedule.values = {key: [] for key in keys}
    epoch_end = length if by_epoch else None  # an iteration-based loop's one epoch ends after the run
    for i in range(loop.max_iters):
        for key in keys:
            schedule.values[key].append([float(group[key]) for group in groups])
        for scheduler in schedulers:  # after_train_iter
            if not scheduler.by_epoch and not needs_metrics(scheduler):
                scheduler.step()
        if epoch_end is not None and (i + 1) % epoch_end == 0:  # after_train_epoch
            for scheduler in schedulers:
                if scheduler.by_epoch:
                    scheduler.step()  # a metric-driven scheduler only counts the epoch
    return schedule
