"""Building the optimizer and its wrapper from ``optim_wrapper``, as MMEngine's default constructor."""

from __future__ import annotations

import copy
import inspect
from typing import Any

from torch import nn

from customrun_core.build import (
    build,
    call_checked,
    check_arguments,
    resolve_checked,
    resolve_type,
    split_type,
)
from customrun_core.errors import ConfigError
from customrun_core.models.wrappers import unwrap_model

DEFAULT_CONSTRUCTOR = "DefaultOptimWrapperConstructor"
DEFAULT_WRAPPER = "OptimWrapper"


class DefaultOptimWrapperConstructor:
    """Turns ``optim_wrapper`` (less ``constructor`` and ``paramwise_cfg``) into a wrapper for a model.

    The optimizer is any ``torch.optim`` class by name, or a ``customrun.optimizers`` entry point;
    the model's parameters go to its first parameter. ``paramwise_cfg`` (per-parameter lr and
    weight-decay rules) is kept for subclasses and the full constructor.
    """

    def __init__(
        self, optim_wrapper_cfg: dict[str, Any], paramwise_cfg: dict[str, Any] | None = None
    ) -> None:
        if "optimizer" not in optim_wrapper_cfg:
            raise ConfigError("required key is missing", key="optimizer")
        self.optim_wrapper_cfg = copy.deepcopy(optim_wrapper_cfg)
        self.paramwise_cfg = paramwise_cfg or {}

    def parameters(self, model: nn.Module) -> Any:
        """What the optimizer's first argument receives; subclasses return parameter groups."""
        return list(model.parameters())

    def __call__(self, model: nn.Module) -> Any:
        model = unwrap_model(model)
        cfg = copy.deepcopy(self.optim_wrapper_cfg)
        optimizer_cfg = cfg.pop("optimizer")
        optimizer_cls, optimizer_kwargs, first = check_optimizer(optimizer_cfg)
        optimizer = call_checked(
            optimizer_cls, optimizer_kwargs, "optimizer", **{first: self.parameters(model)}
        )
        return build("optim_wrappers", cfg, key="", default_type=DEFAULT_WRAPPER, optimizer=optimizer)


def check_optimizer(cfg: Any, key: str = "optimizer") -> tuple[Any, dict[str, Any], str]:
    """The optimizer class, its checked keyword arguments, and the name of the parameter that
    receives the model's parameters (the first one, as MMEngine)."""
    type_name, kwargs = split_type(cfg, key)
    optimizer_cls = resolve_type("optimizers", type_name, key)
    first = next(iter(inspect.signature(optimizer_cls).parameters))
    check_arguments(optimizer_cls, kwargs, {first: None}, key)
    return optimizer_cls, kwargs, first


def build_optim_wrapper(model: nn.Module, cfg: dict[str, Any]) -> Any:
    """The wrapper ``optim_wrapper`` describes, built by its ``constructor``."""
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
    constructor = call_checked(constructor_cls, kwargs, "", **injected)
    return constructor(model)
