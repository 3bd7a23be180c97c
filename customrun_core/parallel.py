"""Model wrappers for runs on many processes: ``model_wrapper_cfg.type = "DDP" | "FSDP"``.

Both are entry points of ``customrun.model_wrappers``, built as ``Wrapper(model=..., device=...,
**model_wrapper_cfg)``; a plugin can publish its own the same way. ``sync_bn`` converts the
model's BatchNorm layers to SyncBatchNorm before it is wrapped.

Every model wrapper class of the core is here too; the process group and the collectives are in
:mod:`customrun_core.distributed`.

- ``DDP`` wraps the model in :class:`CustomrunDDP`, which keeps the model's ``train_step``.
- ``FSDP`` shards the model in place with PyTorch's ``fully_shard`` (FSDP2): the model stays the
  model (its ``train_step`` runs as written), its parameters become DTensors holding this
  process's shard, and checkpoints are written through ``torch.distributed.checkpoint``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Literal, TypedDict

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from customrun_core.errors import ConfigError, closest
from customrun_core.models.wrappers import register_model_wrapper

DEFAULT_WRAPPER = "DDP"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@register_model_wrapper
class CustomrunDDP(DistributedDataParallel):
    """DistributedDataParallel that keeps the model's ``train_step`` / ``val_step`` / ``test_step``.

    ``train_step`` runs the real model's own ``train_step`` (BaseModel's or an override) while the
    model's ``forward`` is routed through DDP's forward, so every forward call in it prepares
    DDP's gradient all-reduce, whatever the model does around it. On an accumulation step
    (``optim_wrapper.should_sync()`` false) it runs inside ``no_sync()``, which skips the
    all-reduce. Forward hooks registered on the real model fire twice per training forward (once
    for the routed call, once for DDP's inner call). ``val_step`` and ``test_step`` call the real
    model directly: evaluation needs no gradient synchronisation.
    """

    def train_step(self, data_batch: Any, optim_wrapper: Any) -> Any:
        """The real model's ``train_step`` with its forward passes going through DDP."""
        should_sync = getattr(optim_wrapper, "should_sync", None)
        skip_sync = callable(should_sync) and not should_sync()
        with self.no_sync() if skip_sync else contextlib.nullcontext(), self._routed_forward():
            return self.module.train_step(data_batch, optim_wrapper)

    def val_step(self, data_batch: Any) -> Any:
        return self.module.val_step(data_batch)

    def test_step(self, data_batch: Any) -> Any:
        return self.module.test_step(data_batch)

    @contextlib.contextmanager
    def _routed_forward(self) -> Iterator[None]:
        """Make ``module(...)`` call DDP's forward, which calls the module's own forward once."""
        module = self.module
        original = module.forward
        own = module.__dict__.get("forward")  # an instance-level forward to put back, if any

        def routed(*args: Any, **kwargs: Any) -> Any:
            module.forward = original  # DDP's forward calls module(...): the real forward this time
            try:
                return DistributedDataParallel.forward(self, *args, **kwargs)
            finally:
                module.forward = routed

        module.forward = routed
        try:
            yield
        finally:
            if own is None:
                del module.forward  # back to the class's forward
            else:
                module.forward = own


class _BufferSync(TypedDict, total=False):
    """DDP's buffer-sync arguments, passed on only when the config gives them (older torch has no
    ``forward_sync_buffers``; a given ``broadcast_buffers`` makes newer torch warn)."""

    broadcast_buffers: bool
    forward_sync_buffers: bool


def DDP(  # the name a config writes as ``type``
    model: nn.Module,
    device: torch.device,
    *,
    find_unused_parameters: bool = False,
    broadcast_buffers: bool | None = None,
    forward_sync_buffers: bool | None = None,
    bucket_cap_mb: float | None = None,
    gradient_as_bucket_view: bool = False,
    static_graph: bool = False,
) -> CustomrunDDP:
    """``model`` in DistributedDataParallel, on this process's GPU when there is one; the
    arguments are DDP's own (``broadcast_buffers``, deprecated by torch for
    ``forward_sync_buffers``, is passed on only when given)."""
    optional = _BufferSync()
    if broadcast_buffers is not None:
        optional["broadcast_buffers"] = broadcast_buffers
    if forward_sync_buffers is not None:
        optional["forward_sync_buffers"] = forward_sync_buffers
    return CustomrunDDP(
        model,
        device_ids=[device] if device.type == "cuda" else None,
        find_unused_parameters=find_unused_parameters,
        bucket_cap_mb=bucket_cap_mb,
        gradient_as_bucket_view=gradient_as_bucket_view,
        static_graph=static_graph,
        **optional,
    )


def FSDP(  # the name a config writes as ``type``
    model: nn.Module,
    device: torch.device,
    *,
    shard_modules: Sequence[str] = (),
    reshard_after_forward: bool = True,
    param_dtype: Literal["float32", "bfloat16", "float16"] | None = None,
    reduce_dtype: Literal["float32", "bfloat16", "float16"] | None = None,
) -> nn.Module:
    """Shard ``model`` over the processes with ``fully_shard``.

    Args:
        shard_modules: class names of submodules that become units of their own (for a
            transformer, its block class), each gathered only while it runs; the rest of the model
            is one unit. Empty: the whole model is one unit.
        reshard_after_forward: free the gathered parameters after the forward pass (less
            memory, one more all-gather in the backward pass).
        param_dtype, reduce_dtype: FSDP's mixed precision: the dtype the forward runs in and
            the dtype gradients are reduced in.
    """
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    present = sorted({type(m).__name__ for m in model.modules()})
    for name in shard_modules:
        if name not in present:
            raise ConfigError(
                f"the model has no submodule of class {name!r}",
                key="shard_modules",
                suggestions=closest(name, present),
            )
    policy = MixedPrecisionPolicy(
        param_dtype=_DTYPES.get(param_dtype or ""), reduce_dtype=_DTYPES.get(reduce_dtype or "")
    )
    units = [m for m in model.modules() if m is not model and type(m).__name__ in shard_modules]
    for unit in [*reversed(units), model]:  # innermost first and the whole model last, as fully_shard wants
        fully_shard(unit, reshard_after_forward=reshard_after_forward, mp_policy=policy)
    return model


def convert_sync_bn(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with its BatchNorm layers replaced by SyncBatchNorm (statistics over every process)."""
    if device.type == "cpu":
        raise ConfigError(
            "SyncBatchNorm runs only on GPUs in PyTorch, got device 'cpu': set sync_bn = false or train on CUDA",
            key="sync_bn",
        )
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def is_sharded(model: Any) -> bool:
    """Whether ``model`` was sharded by ``fully_shard`` (its checkpoints are sharded too)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)
