"""Building ``param_scheduler`` for an optim wrapper, with MMEngine's defaults and conversions, and
the start-of-training check that the schedule fits the run."""

from __future__ import annotations

import inspect
from typing import Any

from customrun_core.build import call_checked, check_arguments, resolve_type, split_type
from customrun_core.errors import ConfigError, describe
from customrun_core.schedulers.base import INF, check_window

__all__ = [
    "build_param_schedulers",
    "check_scheduler",
    "check_unit",
    "coverage_warnings",
    "default_by_epoch",
    "scheduler_tables",
]


def scheduler_tables(cfg: Any, key: str = "param_scheduler") -> list[tuple[str, dict[str, Any]]]:
    """(key path, table) of each scheduler; one table or an array of them."""
    if cfg is None:
        return []
    if isinstance(cfg, dict):
        return [(key, cfg)]
    return [(f"{key}[{i}]", table) for i, table in enumerate(cfg)]


def default_by_epoch(target: Any, kwargs: dict[str, Any]) -> bool:
    """The scheduler's ``by_epoch``: the config's, else the class's default (true for all but
    ``OneCycleLR``), else true."""
    if "by_epoch" in kwargs:
        return bool(kwargs["by_epoch"])
    try:
        param = inspect.signature(target).parameters.get("by_epoch")
    except (TypeError, ValueError):
        param = None
    return True if param is None or param.default is param.empty else bool(param.default)


def check_scheduler(table: Any, key: str, loop_by_epoch: bool = True) -> tuple[Any, dict[str, Any], bool]:
    """The scheduler class, its checked keyword arguments, and whether to convert it to iterations;
    ``loop_by_epoch`` is the train loop's unit (false: iteration-based, see :func:`check_unit`)."""
    type_name, kwargs = split_type(table, key)
    target = resolve_type("param_schedulers", type_name, key)
    convert = kwargs.pop("convert_to_iter_based", False)
    if not isinstance(convert, bool):
        raise ConfigError(f"expected a boolean, got {describe(convert)}", key=f"{key}.convert_to_iter_based")
    if convert and getattr(target, "need_val_args", False):
        raise ConfigError(
            f"{type_name} steps on validation metrics after each epoch and cannot be converted",
            key=f"{key}.convert_to_iter_based",
        )
    if convert and not default_by_epoch(target, kwargs):
        raise ConfigError("convert_to_iter_based needs by_epoch = true", key=f"{key}.convert_to_iter_based")
    check_arguments(target, kwargs, {"optimizer": None}, key)
    if not loop_by_epoch:
        check_unit(target, type_name, kwargs, convert, key)
    if "end" in kwargs:  # a default end (the training length) is checked when it is known
        try:
            check_window(kwargs.get("begin", 0), kwargs["end"])
        except ConfigError as error:
            raise error.located(key_prefix=key) from None
    return target, kwargs, convert


def check_unit(target: Any, type_name: str, kwargs: dict[str, Any], convert: bool, key: str) -> None:
    """The rule for a scheduler under an iteration-based train loop, whose one epoch ends with the
    run: a scheduler that steps after each epoch would step once, after the last iteration, and so
    never act (MMEngine lets it be). Refused, unless ``convert_to_iter_based`` rewrites it in
    iterations. Schedulers driven by validation metrics (ReduceOnPlateau) are not concerned: they
    act after each validation, which an iteration-based loop runs every ``val_interval``.

    Raises:
        ConfigError: at ``<key>.by_epoch``, saying what to give in iterations.
    """
    if convert or getattr(target, "need_val_args", False) or not default_by_epoch(target, kwargs):
        return
    fields = [*getattr(target, "epoch_fields", ()), "begin", "end"]
    given = "by_epoch = true" if "by_epoch" in kwargs else "by_epoch = true, the default"
    raise ConfigError(
        f"{type_name} counts epochs ({given}) but the train loop is iteration-based (one epoch, the whole"
        f" run), so it would never act: set by_epoch = false and give {', '.join(fields[:-1])} and"
        f" {fields[-1]} in iterations, or set convert_to_iter_based = true to scale them by the epoch length",
        key=f"{key}.by_epoch",
    )


def build_param_schedulers(
    cfg: Any,
    optim_wrapper: Any,
    epoch_length: int,
    max_epochs: int,
    max_iters: int,
    key: str = "param_scheduler",
    loop_by_epoch: bool = True,
) -> list[Any]:
    """Schedulers in config order (``cfg`` is at the key path ``key``). ``end`` defaults to the end
    of training in the scheduler's unit; ``convert_to_iter_based = true`` rewrites an epoch-based
    scheduler in iterations (``epoch_length`` iterations an epoch, MMEngine's
    ``len(train_dataloader)``), whose ``end`` then defaults to ``max_iters``. Under an
    iteration-based loop (``loop_by_epoch`` false), see :func:`check_unit`."""
    schedulers = []
    for path, table in scheduler_tables(cfg, key):
        target, kwargs, convert = check_scheduler(table, path, loop_by_epoch)
        if convert:
            # The end of training in iterations: an iteration-based loop's max_epochs is 1, so
            # MMEngine's default (max_epochs, scaled) would end the schedule after one pass.
            kwargs = target.to_iter_based(kwargs, epoch_length)
            kwargs.setdefault("end", max_iters)
        else:
            kwargs.setdefault("end", max_epochs if default_by_epoch(target, kwargs) else max_iters)
        schedulers.append(call_checked(target, kwargs, path, optimizer=optim_wrapper))
    return schedulers


def _fmt(value: float) -> str:
    return f"{value:g}"


def _count(number: float, unit: str) -> str:
    return f"{_fmt(number)} {unit}" + ("" if number == 1 else "s")


def _window_warning(name: str, scheduler: Any, max_epochs: int, max_iters: int) -> str | None:
    """A scheduler that begins, or ends, after the training does."""
    unit, length = ("epoch", max_epochs) if scheduler.by_epoch else ("iteration", max_iters)
    runs = f"training runs {_count(length, unit)}"
    if scheduler.begin >= length:
        return f"{name} begins at {unit} {_fmt(scheduler.begin)} but {runs}: it never acts"
    if scheduler.end != INF and scheduler.end > length:
        return f"{name} ends at {unit} {_fmt(scheduler.end)} but {runs}: the schedule is cut off"
    return None


def coverage_warnings(
    cfg: Any, schedulers: list[Any], max_epochs: int, max_iters: int, key: str = "param_scheduler"
) -> list[str]:
    """What does not fit between the schedule and the run's length (the docs' note on changing
    ``max_epochs`` without changing ``param_scheduler``): a scheduler that begins or ends after
    training does, and a scheduled key whose schedulers all end before training does.

    Args:
        cfg: the config's ``param_scheduler`` (for the key paths of the messages).
        schedulers: the schedulers built from it, in the same order.
        max_epochs: the run's epochs (1 for an iteration-based loop, whose one epoch is the run).
        max_iters: the run's iterations.
        key: the key path of ``cfg``, for the messages.
    """
    epoch = max_iters / max_epochs  # the loop's epoch in iterations (the whole run when iteration-based)
    warnings: list[str] = []
    windows: dict[str, list[tuple[float, float, bool]]] = {}  # key -> windows in iterations, by_epoch
    for (path, _), scheduler in zip(scheduler_tables(cfg, key), schedulers, strict=True):
        warning = _window_warning(f"{path} ({type(scheduler).__name__})", scheduler, max_epochs, max_iters)
        warnings += [warning] if warning else []
        scale = epoch if scheduler.by_epoch else 1
        end = INF if scheduler.end == INF else scheduler.end * scale
        windows.setdefault(scheduler.param_name, []).append(
            (scheduler.begin * scale, end, scheduler.by_epoch)
        )
    for param, spans in windows.items():
        begin, (end, by_epoch) = min(s[0] for s in spans), max((s[1], s[2]) for s in spans)
        if end < max_iters:  # said in the unit of the scheduler that ends last
            unit, length, scale = ("epochs", max_epochs, epoch) if by_epoch else ("iterations", max_iters, 1)
            warnings.append(
                f"the {param} schedule covers {unit} {_fmt(begin / scale)}-{_fmt(end / scale)} of {length}: "
                f"{param} stays at its last value for the rest (leave out the last scheduler's end to "
                "make it follow the training length)"
            )
    return warnings
