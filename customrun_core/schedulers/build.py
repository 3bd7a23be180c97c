"""Building ``param_scheduler`` for an optim wrapper, with MMEngine's defaults and conversions."""

from __future__ import annotations

from typing import Any

from customrun_core.build import call_checked, check_arguments, resolve_type, split_type
from customrun_core.errors import ConfigError


def scheduler_tables(cfg: Any) -> list[tuple[str, dict[str, Any]]]:
    """(key path, table) of each scheduler; one table or an array of them."""
    if cfg is None:
        return []
    if isinstance(cfg, dict):
        return [("param_scheduler", cfg)]
    return [(f"param_scheduler[{i}]", table) for i, table in enumerate(cfg)]


def check_scheduler(table: Any, key: str) -> tuple[Any, dict[str, Any], bool]:
    """The scheduler class, its checked keyword arguments, and whether to convert it to iterations."""
    type_name, kwargs = split_type(table, key)
    target = resolve_type("param_schedulers", type_name, key)
    convert = kwargs.pop("convert_to_iter_based", False)
    if convert and not kwargs.get("by_epoch", True):
        raise ConfigError("convert_to_iter_based needs by_epoch = true", key=f"{key}.convert_to_iter_based")
    check_arguments(target, kwargs, {"optimizer": None}, key)
    return target, kwargs, convert


def build_param_schedulers(
    cfg: Any, optim_wrapper: Any, epoch_length: int, max_epochs: int, max_iters: int
) -> list[Any]:
    """Schedulers in config order. ``end`` defaults to the end of training in the scheduler's unit;
    ``convert_to_iter_based = true`` rewrites an epoch-based scheduler in iterations."""
    schedulers = []
    for key, table in scheduler_tables(cfg):
        target, kwargs, convert = check_scheduler(table, key)
        kwargs.setdefault("end", max_epochs if kwargs.get("by_epoch", True) else max_iters)
        if convert:
            kwargs = target.to_iter_based(kwargs, epoch_length)
        schedulers.append(call_checked(target, kwargs, key, optimizer=optim_wrapper))
    return schedulers
