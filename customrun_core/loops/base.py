"""The interface every loop has: built with the runner and its dataloader, run by ``run()``."""

from __future__ import annotations

from typing import Any

import torch


def to_device(data: Any, device: torch.device) -> Any:
    """``data`` with every tensor inside (dicts, lists, tuples) moved to ``device``, non-blocking."""
    if isinstance(data, torch.Tensor):
        return data if data.device == device else data.to(device, non_blocking=True)
    if isinstance(data, dict):
        return {k: to_device(v, device) for k, v in data.items()}
    if isinstance(data, list | tuple):
        moved = [to_device(v, device) for v in data]
        return type(data)(*moved) if hasattr(data, "_fields") else type(data)(moved)
    return data


class BaseLoop:
    """A loop over one dataloader. Subclasses implement :meth:`run` and fire hooks through
    ``runner.call_hook``. A custom loop registers under the ``customrun.loops`` entry-point group;
    its config table's other keys are its keyword arguments."""

    def __init__(self, runner: Any, dataloader: Any) -> None:
        self.runner = runner
        self.dataloader = dataloader

    def run(self) -> Any:
        raise NotImplementedError
