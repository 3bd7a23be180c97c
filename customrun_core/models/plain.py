"""Plain ``nn.Module`` models: any module whose ``forward(inputs, targets)`` returns a loss tensor (or a
dict of losses) in training and ``forward(inputs)`` returns predictions otherwise, used as it is.

customrun's loops call ``train_step`` / ``val_step`` / ``test_step`` (MMEngine's model contract, see
:class:`~customrun_core.models.base.BaseModel`). A module without them gets them from
:class:`PlainSteps`, by becoming an instance of a subclass of its own class: it keeps its attributes,
its ``state_dict`` keys (checkpoints load into the plain class) and its ``forward``. A module whose
``forward`` takes the inputs alone returns predictions only, so it has no loss to train on: the
config says where the loss comes from with ``ClassifierModel`` / ``RegressorModel`` around it.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from customrun_core.errors import ConfigError
from customrun_core.models.base import parse_losses, unpack_batch

__all__ = ["PlainSteps", "check_model_class", "with_steps"]


class PlainSteps:
    """``train_step`` / ``val_step`` / ``test_step`` for a module whose ``forward(inputs, targets)``
    returns its loss(es) and ``forward(inputs)`` its predictions."""

    def train_step(self, data_batch: Any, optim_wrapper: Any) -> dict[str, torch.Tensor]:
        """``forward(inputs, targets)`` in the wrapper's context, then ``update_params``."""
        inputs, targets = unpack_batch(data_batch)
        with optim_wrapper.optim_context(self):
            losses = self(inputs, targets)  # type: ignore[operator]  # the mixin is on an nn.Module
        loss, log_vars = parse_losses(losses)
        optim_wrapper.update_params(loss, terms=log_vars)
        return log_vars

    def val_step(self, data_batch: Any) -> Any:
        """``forward(inputs)``: the predictions the evaluator reads."""
        inputs, _ = unpack_batch(data_batch)
        return self(inputs)  # type: ignore[operator]  # the mixin is on an nn.Module

    def test_step(self, data_batch: Any) -> Any:
        return self.val_step(data_batch)


def _has_steps(cls: type) -> bool:
    return all(callable(getattr(cls, name, None)) for name in ("train_step", "val_step", "test_step"))


def _forward_takes_targets(cls: type[nn.Module]) -> bool:
    """Whether ``cls.forward`` takes a second argument after the inputs (the targets)."""
    try:
        parameters = list(inspect.signature(cls.forward).parameters.values())[1:]  # without self
    except (TypeError, ValueError):
        return True  # no signature to read: let the first call tell
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


def check_model_class(cls: Any, key: str = "model") -> None:
    """Refuse, before anything is built, a model class that customrun cannot train.

    Raises:
        ConfigError: an ``nn.Module`` without the step methods whose ``forward`` takes only the
            inputs (it returns no loss); the message says how to give it one.
    """
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or _has_steps(cls):
        return
    if not _forward_takes_targets(cls):
        raise ConfigError(
            f"{cls.__name__}.forward takes only the inputs, so it returns no loss to train on: give it one with"
            f' model = {{ type = "ClassifierModel", backbone = {{ type = "{cls.__module__}:{cls.__name__}" }} }}'
            ' (or "RegressorModel"), or let forward(inputs, targets) return the loss in training',
            key=f"{key}.type",
        )


_STEPPED: dict[type, type] = {}  # one subclass per plain class


def _stepped(cls: type) -> type:
    """``cls`` with :class:`PlainSteps`, named as the class."""
    if cls not in _STEPPED:
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__}
        _STEPPED[cls] = type(cls.__name__, (cls, PlainSteps), namespace)
    return _STEPPED[cls]


def with_steps(model: nn.Module, key: str = "model") -> nn.Module:
    """``model`` itself, given :class:`PlainSteps` when it has no ``train_step`` of its own.

    Raises:
        ConfigError: as :func:`check_model_class` (a factory's module is checked only now).
    """
    if not _has_steps(type(model)):
        check_model_class(type(model), key)
        model.__class__ = _stepped(type(model))
    return model
