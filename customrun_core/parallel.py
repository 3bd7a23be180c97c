"""Model wrappers for runs on many processes: ``model_wrapper_cfg.type = "DDP" | "FSDP"``.

Both are entry points of ``customrun.model_wrappers``, built as ``Wrapper(model=..., device=...,
**model_wrapper_cfg)``; a plugin can publish its own the same way. ``sync_bn`` converts the
model's BatchNorm layers to SyncBatchNorm before it is wrapped.

- ``DDP`` wraps the model in :class:`~customrun_core.distributed.CustomrunDDP`.
- ``FSDP`` shards the model in place with PyTorch's ``fully_shard`` (FSDP2): the model stays the
  model (its ``train_step`` runs as written), its parameters become DTensors holding this
  process's shard, and checkpoints are written through ``torch.distributed.checkpoint``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from customrun_core.distributed import CustomrunDDP
from customrun_core.errors import ConfigError, closest

DEFAULT_WRAPPER = "DDP"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    optional = {"broadcast_buffers": broadcast_buffers, "forward_sync_buffers": forward_sync_buffers}
    return CustomrunDDP(
        model,
        device_ids=[device] if device.type == "cuda" else None,
        find_unused_parameters=find_unused_parameters,
        bucket_cap_mb=bucket_cap_mb,
        gradient_as_bucket_view=gradient_as_bucket_view,
        static_graph=static_graph,
        **{k: v for k, v in optional.items() if v is not None},
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
    options = {"reshard_after_forward": reshard_after_forward, "mp_policy": policy}
    units = [m for m in model.modules() if m is not model and type(m).__name__ in shard_modules]
    for unit in reversed(units):  # innermost first, as fully_shard wants
        fully_shard(unit, **options)
    fully_shard(model, **options)
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
