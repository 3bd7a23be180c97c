"""Recognising model wrappers (DistributedDataParallel and friends) and reaching the real module."""

from __future__ import annotations

from typing import Any

# register_model_wrapper lives in the registry, beside everything else a process registers (one
# snapshot restores both); it is imported here too, where its users have always found it. No
# __all__: plugins take is_model_wrapper and unwrap_model from customrun_core itself.
from customrun_core.registry import model_wrapper_classes, register_model_wrapper  # noqa: F401


def _wrapper_types() -> tuple[type, ...]:
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    return (DataParallel, DistributedDataParallel, *model_wrapper_classes())


def is_model_wrapper(model: Any) -> bool:
    """Whether ``model`` wraps another module (``model.module``), as MMEngine's function of that name."""
    return isinstance(model, _wrapper_types())


def unwrap_model(model: Any) -> Any:
    """The innermost real model: ``model.module`` for as long as ``model`` is a wrapper."""
    while is_model_wrapper(model):
        model = model.module
    return model
