"""The interface every loop has: built with the runner and its dataloader, run by ``run()``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch


def map_tensors(data: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``data`` with ``fn`` applied to every tensor inside (mappings, lists, tuples, named tuples)."""
    if isinstance(data, torch.Tensor):
        return fn(data)
    if isinstance(data, Mapping):
        return {k: map_tensors(v, fn) for k, v in data.items()}
    if isinstance(data, list | tuple):
        items = [map_tensors(v, fn) for v in data]
        return type(data)(*items) if hasattr(data, "_fields") else type(data)(items)
    return data


def to_device(data: Any, device: torch.device) -> Any:
    """``data`` with every tensor inside moved to ``device``, non-blocking (one already there
    is left as it is)."""
    if device.type == "cpu":  # is_cpu reads a flag; comparing devices builds a torch.device
        return map_tensors(data, lambda t: t if t.is_cpu else t.to(device, non_blocking=True))
    return map_tensors(data, lambda t: t if t.device == device else t.to(device, non_blocking=True))


class BaseLoop:
    """A loop over one dataloader. Subclasses implement :meth:`run` and fire hooks through
    ``runner.call_hook``. A custom loop registers under the ``customrun.loops`` entry-point group;
    its config table's other keys are its keyword arguments."""

    def __init__(self, runner: Any, dataloader: Any) -> None:
        self.runner = runner
        self.dataloader = dataloader

    def run(self) -> Any:
        raise NotImplementedError
