"""Dry runs: what a config's run will do, computed without training.

- :func:`simulate_schedule` (``customrun schedule``): every value the schedulers set at every
  iteration, stepped by the rule ParamSchedulerHook follows
  (:mod:`customrun_core.schedulers.stepping`), with no training step.
- :func:`parameter_groups` (``customrun param-groups``): each trainable parameter's optimizer group.

Both are assembled by :mod:`customrun_core.assembly`, exactly as ``customrun train`` assembles the
run, so they accept the configs ``train`` accepts (one optim wrapper per submodule included) and
refuse, with the same line, what it refuses. No data is read: the train dataloader is built only for
its length, and not at all when the epoch length is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from customrun_core import assembly
from customrun_core.config import RunConfig
from customrun_core.errors import ConfigError, located
from customrun_core.schedulers.stepping import needs_metrics, step_after_epoch, step_after_iter

__all__ = ["Schedule", "parameter_groups", "parameter_rows", "simulate_schedule"]


@dataclass
class Schedule:
    """Every scheduled value of a run.

    Attributes:
        iters_per_epoch: the epoch length the schedulers were built with (``convert_to_iter_based``
            scales by it); the length of the train dataloader unless given.
        max_iters: the run's iterations.
        by_epoch: whether the loop is epoch-based; an iteration-based loop is one epoch long.
        values: for each scheduled group key (``lr``, ``momentum``, ...; ``generator.lr`` with one
            optim wrapper per submodule, as the logs name it), ``values[key][i][g]`` is the value in
            the optimizer's group ``g`` during iteration ``i``, what it holds when
            ``before_train_iter`` fires.
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
        raise RuntimeError("a dry run reads no data")


def _prepared(cfg: RunConfig, plugin_switches: Mapping[str, Any] | None) -> None:
    assembly.prepare(cfg, plugin_switches)
    assembly.check(cfg)


def simulate_schedule(
    cfg: RunConfig, iters_per_epoch: int | None = None, plugin_switches: Mapping[str, Any] | None = None
) -> Schedule:
    """Every scheduled value at every iteration of the run ``cfg`` describes.

    Args:
        cfg: the run's config.
        iters_per_epoch: the epoch length; by default ``len(train_dataloader)``, for which the
            train dataset is built (with this, it is not).
        plugin_switches: the command line's plugin switches (see :func:`assembly.prepare`).

    Raises:
        ConfigError: a missing or wrong part of the config, located in its file.
    """
    if iters_per_epoch is not None and iters_per_epoch < 1:
        raise ConfigError(f"expected an integer >= 1, got {iters_per_epoch}", key="--iters-per-epoch")
    _prepared(cfg, plugin_switches)
    needed = ["optim_wrapper", "train_cfg"] + (["train_dataloader"] if iters_per_epoch is None else [])
    for key in needed:
        assembly.required(cfg, key, "to compute the schedule")
    model = assembly.build_model(cfg)
    optim_wrapper = assembly.build_optim_wrapper(cfg, model)
    length = iters_per_epoch or len(assembly.build_dataloader(cfg, "train", seed=0))
    loop = assembly.build_train_loop(cfg, None, _Length(length))
    schedulers = assembly.build_schedulers(cfg, optim_wrapper, loop, length)
    by_epoch = bool(getattr(loop, "by_epoch", True))
    schedule = Schedule(iters_per_epoch=length, max_iters=loop.max_iters, by_epoch=by_epoch)
    schedule.warnings = assembly.schedule_warnings(cfg, schedulers, loop)
    columns = _columns(cfg, optim_wrapper, schedulers, schedule.notes)
    schedule.values = {key: [] for key, _, _ in columns}
    epoch_end = length if by_epoch else None  # an iteration-based loop's one epoch ends after the run
    for i in range(loop.max_iters):
        for key, groups, param in columns:
            schedule.values[key].append([float(group[param]) for group in groups])
        step_after_iter(schedulers)
        if epoch_end is not None and (i + 1) % epoch_end == 0:
            step_after_epoch(schedulers)
    return schedule


def _columns(
    cfg: RunConfig, optim_wrapper: Any, schedulers: Any, notes: list[str]
) -> list[tuple[str, Any, str]]:
    """(reported key, the optimizer's real groups, group key) of each scheduled value, and a note
    for each scheduler that steps on validation metrics."""
    from customrun_core.schedulers.build import scheduler_tables

    members = schedulers if isinstance(schedulers, dict) else {"": schedulers}
    wrappers = assembly.optim_members(optim_wrapper)
    configs = assembly.scheduler_configs(cfg)
    columns = []
    for name, built in members.items():
        member_cfg, key = configs[name]
        for (path, _), scheduler in zip(scheduler_tables(member_cfg, key), built, strict=True):
            if needs_metrics(scheduler):
                notes.append(
                    f"{path} ({type(scheduler).__name__}) changes {scheduler.param_name} on validation "
                    "metrics, which a simulation does not have: its values are held"
                )
        groups = getattr(wrappers[name], "optimizer", wrappers[name]).param_groups  # not a base group
        for param in dict.fromkeys(scheduler.param_name for scheduler in built):
            columns.append((f"{name}.{param}" if name else param, groups, param))
    return columns


# -- parameter groups ----------------------------------------------------------------------------
_GROUP_OWN_KEYS = ("params", "lr", "weight_decay")
_MISSING = object()


def parameter_groups(cfg: RunConfig, plugin_switches: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{"parameters": [row, ...], "unmatched_custom_keys": [...], "frozen": N}`` for ``cfg``: a
    row per trainable parameter (:func:`parameter_rows`; with ``"optimizer"`` naming its optim
    wrapper when there is one per submodule), the ``custom_keys`` that set no parameter, and the
    number of frozen parameters. Only the model and the optimizers are built."""
    from customrun_core.models.wrappers import unwrap_model
    from customrun_core.optim.constructor import build_constructor

    _prepared(cfg, plugin_switches)
    assembly.required(cfg, "optim_wrapper", "to list parameter groups")
    tables = assembly.wrapper_tables(cfg)
    per_member = len(tables) > 1 or tables[0][0] != "optim_wrapper"
    constructors = {}
    for key, table in tables:
        with located(cfg.source, key):
            constructors[key] = build_constructor(table)
    model = unwrap_model(assembly.build_model(cfg))
    report: dict[str, Any] = {"parameters": [], "unmatched_custom_keys": []}
    for key, constructor in constructors.items():
        name = key.removeprefix("optim_wrapper").removeprefix(".")
        with located(cfg.source, "optim_wrapper"):
            module = _submodule(model, name)
        with located(cfg.source, key):
            optimizer, unmatched = _groups(constructor, module)
        for row in parameter_rows(module, optimizer, prefix=f"{name}." if name else ""):
            report["parameters"].append({**row, "optimizer": name} if per_member else row)
        report["unmatched_custom_keys"] += [f"{name}: {k}" if name else k for k in unmatched]
    report["frozen"] = sum(not p.requires_grad for p in model.parameters())
    return report


def _submodule(model: Any, name: str) -> Any:
    if not name:
        return model
    children = dict(model.named_children())
    if name not in children:
        raise ConfigError(f"the model has no submodule {name!r} to optimize", key=name)
    return children[name]


def _groups(constructor: Any, module: Any) -> tuple[Any, list[str]]:
    """The optimizer over the constructor's groups, and the custom keys that set nothing."""
    from customrun_core.optim.constructor import DefaultOptimWrapperConstructor

    if not isinstance(constructor, DefaultOptimWrapperConstructor):  # it only builds whole wrappers
        return constructor(module).optimizer, []
    result = constructor.param_groups(module)
    return constructor.build_optimizer(result.groups), result.unmatched_custom_keys


def parameter_rows(module: Any, optimizer: Any, prefix: str = "") -> list[dict[str, Any]]:
    """One row per trainable parameter of ``module``: name, shape, group index, lr, weight decay and
    the group's other entries (optimizer defaults left out unless the group changes them)."""
    index = {id(p): k for k, group in enumerate(optimizer.param_groups) for p in group["params"]}
    rows = []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        k = index.get(id(param))  # None: the constructor left it out of the optimizer
        group = optimizer.param_groups[k] if k is not None else {}
        extra = {
            key: _plain(value)
            for key, value in group.items()
            if key not in _GROUP_OWN_KEYS and not _same(value, optimizer.defaults.get(key, _MISSING))
        }
        rows.append(
            {
                "name": prefix + name,
                "shape": list(param.shape),
                "group": k,
                "lr": _plain(group.get("lr")),
                "weight_decay": _plain(group.get("weight_decay")),
                "extra": extra,
            }
        )
    return rows


def _same(value: Any, default: Any) -> bool:
    try:
        return default is not _MISSING and bool(value == default)
    except (RuntimeError, ValueError):  # tensors that do not compare to one boolean
        return False


def _plain(value: Any) -> Any:
    """A tensor lr (capturable optimizers) as a number; anything else as it is."""
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
