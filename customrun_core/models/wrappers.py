"""Recognising model wrappers (DistributedDataParallel and friends) and reaching the real module."""

from __future__ import annotations

from typing import Any

_extra_wrappers: list[type] = []


def register_model_wrapper(cls: type) -> type:
    """Class decorator: treat ``cls`` (which holds the real model as ``.module``) as a wrapper."""
    _extra_wrappers.append(cls)
    return cls


def _wrapper_types() -> tuple[type, ...]:
    from torch.nn.parallel import DataParallel, DistributedDataParallel

    return (DataParallel, DistributedDataParallel, *_extra_wrappers)


def is_model_wrapper(model: Any) -> bool:
    """Whether ``model`` wraps another module (``model.module``), as MMEngine's function of that name."""
    return isinstance(model, _wrapper_types())


def unwrap_model(model: Any) -> Any:
    """The innermost real model: ``model.module`` for as long as ``model`` is a wrapper."""
    while is_model_wrapper(model):
        model = model.module
    return model
