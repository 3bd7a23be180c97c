"""Optional speed features of a run: ``compile`` and ``channels_last`` (docs/config.md, "Speed").

``compile`` compiles the model's ``forward`` in place, so the model keeps its class, its
``train_step`` / ``val_step`` / ``test_step`` and its ``state_dict`` keys (no ``_orig_mod.``
prefix: checkpoints of compiled and uncompiled runs load into each other). Under DDP the compiled
forward runs inside DDP's forward, where TorchDynamo splits the graph at DDP's gradient buckets;
under FSDP the sharding hooks around it stay eager.

``channels_last`` puts the model's 4-D weights and every 4-D tensor of a batch in
``torch.channels_last``; the batches are converted where they are collated (in the worker
processes when ``num_workers > 0``) by :func:`customrun_core.batch.collate_channels_last`, and
moving them to the device keeps their layout.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from customrun_core.build import check_arguments
from customrun_core.errors import ConfigError, closest

__all__ = ["compile_arguments", "compile_forward"]


def compile_arguments(cfg: bool | Mapping[str, Any]) -> dict[str, Any] | None:
    """``torch.compile``'s keyword arguments from the config's ``compile`` (None: no compiling).

    ``true`` is ``{}`` (torch's defaults); a table is checked as any component's arguments are,
    against the installed ``torch.compile``: a misspelt name is a :class:`ConfigError` at
    ``compile.<name>`` suggesting the closest valid one."""
    if cfg is False:
        return None
    kwargs = {} if cfg is True else dict(cfg)
    check_arguments(torch.compile, kwargs, {"model": None}, "compile", label="torch.compile")
    return kwargs


def compile_forward(model: nn.Module, cfg: bool | Mapping[str, Any]) -> bool:
    """Compile ``model.forward`` in place with ``torch.compile(**compile)``; whether it did.

    The compiled function is bound to ``model`` as a method, so a ``copy.deepcopy`` of the model
    runs its own weights through it. Compiling is lazy: the first call of each input shape and
    mode (train, eval, no_grad) traces and compiles.
    """
    kwargs = compile_arguments(cfg)
    if kwargs is None:
        return False
    forward = model.forward
    try:
        if isinstance(forward, types.MethodType) and forward.__self__ is model:
            compiled: Any = types.MethodType(torch.compile(forward.__func__, **kwargs), model)
        else:  # an instance attribute already (another wrapper's): compile what it calls
            compiled = torch.compile(forward, **kwargs)
    except RuntimeError as error:  # torch checks the backend and mode / options when called
        raise _refused(kwargs, error) from error
    model.forward = compiled
    return True


def _refused(kwargs: Mapping[str, Any], error: RuntimeError) -> ConfigError:
    backend = kwargs.get("backend")
    if isinstance(backend, str):
        import torch._dynamo

        known = torch._dynamo.list_backends(exclude_tags=())
        if backend not in known:
            return ConfigError(
                f"unknown torch.compile backend {backend!r} (torch._dynamo.list_backends() names them)",
                key="compile.backend",
                suggestions=closest(backend, known),
            )
    lines = str(error).strip().splitlines() or [type(error).__name__]
    return ConfigError(f"torch.compile refused its arguments: {lines[0]}", key="compile")
