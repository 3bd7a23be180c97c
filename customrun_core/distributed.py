"""Running under torchrun: the process group and collective helpers.

Everything here is plain ``torch.distributed``: torchrun sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; the runner reads them through
:func:`setup` and ends the group with :func:`teardown`; the model wrappers that
``model_wrapper_cfg`` names are in :mod:`customrun_core.parallel`.
"""

from __future__ import annotations

import atexit
import datetime
import os
from typing import Any

import torch
from torch import distributed as dist

from customrun_core.errors import ConfigError


def resolve_launcher(launcher: str | None) -> str:
    """``launcher`` as given, or ``"torchrun"`` when torchrun started more than one process."""
    if launcher is not None:
        return launcher
    return "torchrun" if int(os.environ.get("WORLD_SIZE", "1")) > 1 else "none"


def setup(launcher: str | None, dist_cfg: Any, device: torch.device) -> tuple[int, int, torch.device]:
    """Join the process group when launched by torchrun.

    Args:
        launcher: the config's ``launcher`` (None: detected from the environment).
        dist_cfg: the config's ``dist_cfg`` (``backend``, ``timeout`` in seconds).
        device: the device the config asked for; on CUDA each process takes ``cuda:LOCAL_RANK``
            (modulo the number of GPUs: more processes than GPUs share them, which Gloo allows and
            NCCL refuses).

    Returns:
        ``(rank, world_size, device)``; ``(0, 1, device)`` without a launcher.
    """
    if resolve_launcher(launcher) == "none":
        return 0, 1, device
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ConfigError(
            "expected RANK and WORLD_SIZE in the environment: start the run with torchrun", key="launcher"
        )
    if dist_cfg.timeout <= 0:
        raise ConfigError(
            f"expected a positive number of seconds, got {dist_cfg.timeout}", key="dist_cfg.timeout"
        )
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = dist_cfg.backend or ("nccl" if device.type == "cuda" else "gloo")
        timeout = datetime.timedelta(seconds=dist_cfg.timeout)
        dist.init_process_group(backend=backend, timeout=timeout)
    return dist.get_rank(), dist.get_world_size(), device


def teardown(wait_for_peers: bool = False) -> None:
    """End the process group, if this process is in one.

    After a clean run every process first waits for the others, so none tears the group down while
    a peer still uses it (Gloo then aborts the process at exit). After an error nobody waits: the
    failing process leaves at once and torchrun stops the others.

    Under Gloo the wait is ``monitored_barrier``, which runs in this thread, not ``barrier``: a
    DistributedDataParallel keeps the group alive past ``destroy_process_group``, and a Gloo
    ``barrier`` is finished by one of the group's worker threads, which may still be releasing
    it (and the tensors of earlier collectives it holds) while the interpreter shuts down;
    needing the GIL then, that thread aborts the process ("terminate called without an active
    exception", exit -6, seen about once in ten runs on a loaded machine).
    """
    if is_initialized():
        if wait_for_peers:
            if dist.get_backend() == "gloo":
                dist.monitored_barrier()
            else:
                dist.barrier()
        dist.destroy_process_group()


def teardown_at_exit() -> None:
    """Leave the process group when the process exits, waiting for the other processes first."""
    if is_initialized() and not _exit_teardown:
        atexit.register(teardown, wait_for_peers=True)
        _exit_teardown.append(True)


_exit_teardown: list[bool] = []


def is_initialized() -> bool:
    """Whether this process is in a process group (launched by torchrun)."""
    return dist.is_available() and dist.is_initialized()


def is_distributed() -> bool:
    """Whether this process is one of several in a process group."""
    return is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(values: list[float]) -> list[float]:
    """The element-wise sum of ``values`` over every process (``values`` itself when alone)."""
    if not is_distributed():
        return list(values)
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every process."""
    if not is_distributed():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
