"""Building the optimizer and its wrapper from ``optim_wrapper``, as MMEngine's default constructor."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import nn

from customrun_core.build import (
    build,
    call_checked,
    check_arguments,
    join_key,
    resolve_checked,
    resolve_type,
    split_type,
)
from customrun_core.config.types import check_minimum, is_number
from customrun_core.errors import ConfigError
from customrun_core.models.wrappers import unwrap_model
from customrun_core.optim.paramwise import (
    PARAMWISE_KEYS,
    ParamGroups,
    build_param_groups,
    check_paramwise_cfg,
    optimizer_group_keys,
)

DEFAULT_CONSTRUCTOR = "DefaultOptimWrapperConstructor"
DEFAULT_WRAPPER = "OptimWrapper"
# Optimizer arguments that are never negative, whichever optimizer takes them: torch.optim refuses
# a negative one only when the optimizer is built, an optimizer of a plugin perhaps never.
NON_NEGATIVE_ARGUMENTS = ("lr", "weight_decay", "momentum")


class DefaultOptimWrapperConstructor:
    """Turns ``optim_wrapper`` (less ``constructor`` and ``paramwise_cfg``) into a wrapper for a model.

    The optimizer is any ``torch.optim`` class by name, or a ``customrun.optimizers`` entry point;
    the parameter groups go to its first parameter. Without ``paramwise_cfg`` that is one group of
    all the model's parameters; with it, one group per trainable parameter, shaped by MMEngine's
    rules (``bias_lr_mult``, ``*_decay_mult``, ``custom_keys``, ``bypass_duplicate``; see
    docs/optimizers.md). The config is checked when the constructor is created.

    Subclasses change the groups by overriding :meth:`param_groups` (which ``customrun
    param-groups`` shows) and accept more ``paramwise_cfg`` keys by extending ``paramwise_keys``.

    Args:
        optim_wrapper_cfg: the ``optim_wrapper`` table without ``constructor`` and ``paramwise_cfg``.
        paramwise_cfg: the ``paramwise_cfg`` table, if any.
    """

    paramwise_keys: ClassVar[tuple[str, ...]] = PARAMWISE_KEYS

    def __init__(
        self, optim_wrapper_cfg: dict[str, Any], paramwise_cfg: dict[str, Any] | None = None
    ) -> None:
        if "optimizer" not in optim_wrapper_cfg:
            raise ConfigError("required key is missing", key="optimizer")
        self.optim_wrapper_cfg = copy.deepcopy(optim_wrapper_cfg)
        self.paramwise_cfg = copy.deepcopy(paramwise_cfg) if paramwise_cfg is not None else {}
        optimizer_cfg = self.optim_wrapper_cfg["optimizer"]
        self.base_lr = _base_value(optimizer_cfg, "lr")
        self.base_wd = _base_value(optimizer_cfg, "weight_decay")
        if self.paramwise_cfg or not isinstance(self.paramwise_cfg, Mapping):
            optimizer_cls = resolve_type("optimizers", split_type(optimizer_cfg, "optimizer")[0], "optimizer")
            group_keys = optimizer_group_keys(optimizer_cls)
            check_paramwise_cfg(
                self.paramwise_cfg, self.base_lr, self.base_wd, self.paramwise_keys, group_keys
            )

    def param_groups(self, model: nn.Module) -> ParamGroups:
        """The parameter groups for ``model`` (a wrapper is unwrapped), without building the optimizer.

        Warns about custom keys that set no parameter and, with ``bypass_duplicate``, about shared
        parameters skipped; logs (warning level) the frozen parameters left out.

        Raises:
            ConfigError: a parameter is shared and ``bypass_duplicate`` is not set.
        """
        model = unwrap_model(model)
        if not self.paramwise_cfg:  # MMEngine: every parameter in one group, frozen ones included
            return ParamGroups(groups=[{"params": list(model.parameters())}])
        return build_param_groups(model, self.paramwise_cfg, self.base_lr, self.base_wd)

    def parameters(self, model: nn.Module) -> Any:
        """What the optimizer's first argument receives: the groups of :meth:`param_groups`."""
        return self.param_groups(model).groups

    def build_optimizer(self, params: Any) -> Any:
        """The configured optimizer over ``params`` (parameter groups)."""
        optimizer_cls, kwargs, first = check_optimizer(self.optim_wrapper_cfg["optimizer"])
        return call_checked(optimizer_cls, kwargs, "optimizer", **{first: params})

    def __call__(self, model: nn.Module) -> Any:
        model = unwrap_model(model)
        optimizer = self.build_optimizer(self.parameters(model))
        cfg = {k: v for k, v in copy.deepcopy(self.optim_wrapper_cfg).items() if k != "optimizer"}
        return build("optim_wrappers", cfg, key="", default_type=DEFAULT_WRAPPER, optimizer=optimizer)


def _base_value(optimizer_cfg: Any, name: str) -> Any:
    """The optimizer table's ``lr`` or ``weight_decay`` (None when unset), which multipliers multiply."""
    return optimizer_cfg.get(name) if isinstance(optimizer_cfg, Mapping) else None


def check_optimizer(cfg: Any, key: str = "optimizer") -> tuple[Any, dict[str, Any], str]:
    """The optimizer class, its checked keyword arguments, and the name of the parameter that
    receives the model's parameters (the first one, as MMEngine)."""
    type_name, kwargs = split_type(cfg, key)
    optimizer_cls = resolve_type("optimizers", type_name, key)
    first = next(iter(inspect.signature(optimizer_cls).parameters))
    check_arguments(optimizer_cls, kwargs, {first: None}, key)
    for name in NON_NEGATIVE_ARGUMENTS:
        problem = check_minimum(kwargs.get(name), 0)
        if problem:
            raise ConfigError(problem, key=join_key(key, name))
    return optimizer_cls, kwargs, first


def optimizer_warnings(cfg: Any, key: str = "optim_wrapper") -> list[str]:
    """What the optimizer tables of ``optim_wrapper`` (one wrapper, or one per submodule) allow
    but likely do not mean, one message each: an ``lr`` of 0, with which no parameter moves."""
    if not isinstance(cfg, Mapping):
        return []
    if "optimizer" not in cfg:  # one wrapper per submodule, or a mistake reported elsewhere
        return [m for name, sub in cfg.items() for m in optimizer_warnings(sub, join_key(key, name))]
    optimizer = cfg["optimizer"]
    if isinstance(optimizer, Mapping) and is_number(optimizer.get("lr")) and optimizer["lr"] == 0:
        return [f"{key}.optimizer.lr: 0 leaves every parameter where it is, unless a scheduler raises it"]
    return []


def build_constructor(cfg: dict[str, Any]) -> Any:
    """The ``constructor`` of ``optim_wrapper`` (checked, ready to be called on a model)."""
    cfg = copy.deepcopy(cfg)
    constructor_type = cfg.pop("constructor", DEFAULT_CONSTRUCTOR)
    paramwise_cfg = cfg.pop("paramwise_cfg", None)
    injected = {"optim_wrapper_cfg": cfg, "paramwise_cfg": paramwise_cfg}
    constructor_cls, kwargs = resolve_checked(
        "optim_wrapper_constructors",
        {"type": constructor_type} if isinstance(constructor_type, str) else constructor_type,
        "constructor",
        **injected,
    )
    # What a constructor refuses (a missing optimizer, a paramwise_cfg value) is a key of
    # optim_wrapper itself, so its errors are not placed under ``constructor``.
    return call_checked(constructor_cls, kwargs, "", **injected)


def build_optim_wrapper(model: nn.Module, cfg: dict[str, Any]) -> Any:
    """The wrapper ``optim_wrapper`` describes, built by its ``constructor``."""
    return build_constructor(cfg)(model)
