"""A batch as loops and dataloaders see it: tensors nested in mappings, lists and tuples.

Everything that walks a batch lives here, below both its users: the loops move batches to the
run's device (:func:`to_device`) and the dataloaders collate them (:func:`collate_channels_last`
for ``channels_last = true``). Neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["collate_channels_last", "map_tensors", "to_channels_last", "to_device"]


def map_tensors(data: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``data`` with ``fn`` applied to every tensor inside (mappings, lists, tuples, named tuples).

    Containers are rebuilt with their own type (a mapping becomes a ``dict``); anything that is
    neither a tensor nor a container is returned as it is."""
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


def to_channels_last(data: Any) -> Any:
    """``data`` with every 4-D tensor inside (dicts, lists, tuples) in ``torch.channels_last``."""
    return map_tensors(data, lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t)


def collate_channels_last(samples: list[Any]) -> Any:
    """The DataLoader's default collation, then :func:`to_channels_last` (a module-level function,
    so that worker processes started by ``spawn`` can unpickle it)."""
    from torch.utils.data import default_collate

    return to_channels_last(default_collate(samples))
