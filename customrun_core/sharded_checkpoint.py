"""Checkpoints of a model sharded with FSDP, through ``torch.distributed.checkpoint`` (DCP).

A sharded checkpoint is a directory: the model's and the optimizer's tensors in DCP's files (one
per process, plus DCP's metadata), everything else in ``extra.pt``, written by rank 0 (see
:mod:`customrun_core.checkpoint`). DCP reshards on load, so a run saved by N processes resumes on
M, or on one process without a process group.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import distributed as dist
from torch.distributed import checkpoint as dcp
from torch.distributed.checkpoint import DefaultLoadPlanner
from torch.distributed.checkpoint import state_dict as dsd
from torch.distributed.checkpoint._traverse import set_element

from customrun_core.checkpoint import EXTRA, save_atomic
from customrun_core.errors import ConfigError


def state(model: torch.nn.Module, optimizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's and the optimizer's state dicts as DCP saves them: this process's shards, keyed
    by parameter name."""
    return dsd.get_state_dict(model, optimizer)


def save(checkpoint: dict[str, Any], path: Path, rank: int) -> None:
    """Write ``checkpoint`` from every process (a collective call).

    ``checkpoint["state_dict"]`` and ``checkpoint["optimizer"]["state"]`` (from :func:`state`)
    go to DCP's files, the rest to ``extra.pt``. Everything is written to ``.NAME.tmp`` and
    renamed to ``path`` when complete, so an interrupted save leaves the previous checkpoint as
    it was.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
    dist.barrier()
    rest = dict(checkpoint)
    tensors = {"state_dict": rest.pop("state_dict"), "optimizer": {"state": rest["optimizer"]["state"]}}
    rest["optimizer"] = {k: v for k, v in rest["optimizer"].items() if k != "state"}
    dcp.save(tensors, checkpoint_id=tmp)  # rank 0 writes DCP's metadata once every shard is written
    if rank == 0:
        save_atomic(rest, tmp / EXTRA)
        old = path.with_name(f".{path.name}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    dist.barrier()


def load(checkpoint: dict[str, Any], model: torch.nn.Module, optimizer: Any, key: str) -> None:
    """Load the tensors of the sharded checkpoint ``checkpoint`` (from ``checkpoint.load``) into
    ``model``, and into ``optimizer`` unless it is None, resharded for the processes of this run."""
    path = checkpoint["sharded"]
    optimizers = () if optimizer is None else optimizer
    model_state, optim_state = dsd.get_state_dict(model, optimizers)  # the shapes to fill in
    tensors: dict[str, Any] = {"state_dict": model_state}
    if optimizer is not None:
        tensors["optimizer"] = {"state": optim_state["state"]}
    try:
        dcp.load(tensors, checkpoint_id=path, planner=WeightsOnlyLoadPlanner())
    except Exception as error:  # DCP wraps a reader's errors in its own
        raise ConfigError(f"cannot read sharded checkpoint {path}: {_last_line(error)}", key=key) from None
    checkpoint["state_dict"] = model_state
    if optimizer is None:
        dsd.set_model_state_dict(model, model_state)
        return
    optim_state = {
        "state": tensors["optimizer"]["state"],
        "param_groups": checkpoint["optimizer"]["param_groups"],
    }
    dsd.set_state_dict(model, optimizers, model_state_dict=model_state, optim_state_dict=optim_state)


def load_full_weights(model: torch.nn.Module, state_dict: dsd.DictValueType) -> None:
    """Load a whole (unsharded) state dict, which every process holds, into a sharded model."""
    dsd.set_model_state_dict(model, state_dict, options=dsd.StateDictOptions(full_state_dict=True))


class WeightsOnlyLoadPlanner(DefaultLoadPlanner):
    """DCP's default planner, except that values which are not tensors are read with
    ``torch.load(weights_only=True)``: DCP's own planner unpickles them without that guard."""

    def load_bytes(self, read_item: Any, value: Any) -> None:
        loaded = torch.load(value, weights_only=True)
        fqn = read_item.dest_index.fqn
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[fqn], loaded)
        else:
            self.state_dict[fqn] = loaded


def _last_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}"
