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


def build_param_schedulers(cfg: Any, optim_wrapper: Any, epoch_length: int, max_epochs: int, max_iters: int) -> list[Any]:
    """Schedulers in config order. ``end`` defaults to the end of training in the scheduler's unit;
    ``convert_to_iter_based = true`` rewrites an epoch-based scheduler in iterations."""
    schedulers = []
    for key, table in scheduler_tables(cfg):
        type_name, kwargs = split_type(table, key)
        target = resolve_type("param_schedulers", type_name, key)
        convert = kwargs.pop("convert_to_iter_based", False)
        by_epoch = kwargs.get("by_epoch", True)
        if convert and not by_epoch:
            raise ConfigError("convert_to_iter_based needs by_epoch = true", key=f"{key}.convert_to_iter_based")
        kwargs.setdefault("end", max_epochs if by_epoch else max_iters)
        check_arguments(target, kwargs, {"optimizer": optim_wrapper}, key)
        if convert:
            kwargs = target.to_iter_based(kwargs, epoch_length)
        schedulers.append(call_checked(target, kwargs, key, optimizer=optim_wrapper))
    return schedulers
