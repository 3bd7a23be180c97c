"""The values hooks record during training, and the record format of ``scalars.jsonl``.

:class:`ScalarBuffer` holds what hooks record, averaged over each logging window. The LoggerHook
turns each window (and each validation or test result) into one record and appends it to
``WORK_DIR/scalars.jsonl`` (:data:`SCALARS_FILE`) with :func:`append_record`; ``customrun plot``
and back-ends such as TensorBoard read records in this format.

A record is a flat dict: :data:`RECORD_KEYS` (``mode``: ``"train"``, ``"val"`` or ``"test"``;
``step``: finished training iterations; ``epoch``), then the values by name (floats). In the
file it is one JSON object per line, with a non-finite value written as ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "RECORD_KEYS",
    "SCALARS_FILE",
    "ScalarBuffer",
    "append_record",
    "as_float",
    "json_line",
    "mean",
    "stacked_mean",
]

SCALARS_FILE = "scalars.jsonl"
RECORD_KEYS = ("mode", "step", "epoch")  # a record's bookkeeping; every other entry is a value


def json_line(record: Mapping[str, Any]) -> str:
    """``record`` as one line of strict JSON (with its newline).

    Strict JSON has no Infinity or NaN: a non-finite value (a skipped AMP step's grad_norm, a
    diverged loss) is written as ``null``; the record itself is not changed.
    """
    clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()}
    return json.dumps(clean) + "\n"


def append_record(path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` to the scalars file ``path`` as one JSON line (:func:`json_line`)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json_line(record))


def as_float(value: Any) -> float:
    """A Python float from a number or a one-element tensor (the only place a sync happens)."""
    return float(value.item()) if hasattr(value, "item") else float(value)


def mean(values: list[Any]) -> float:
    """The mean of numbers or one-element tensors. Tensors on an accelerator are summed there, so
    a logging window costs one device read per name instead of one per iteration; on the CPU,
    reading each value is cheaper than stacking them."""
    if len(values) > 1 and not getattr(values[0], "is_cpu", True):  # a number is "on the CPU"
        return stacked_mean(values)
    return sum(as_float(v) for v in values) / len(values)


def stacked_mean(values: list[Any]) -> float:
    """:func:`mean` of tensors on one device: one stack, a float64 sum, one read."""
    import torch

    return torch.stack([v.reshape(()) for v in values]).sum(dtype=torch.float64).item() / len(values)


class ScalarBuffer:
    """Named scalars: the latest value of each, and a window of values since the last ``flush``.

    Tensors are stored as they are and turned into floats only when read, so recording a loss
    every iteration does not synchronise a GPU. A value set with :meth:`set_latest` (a learning
    rate) has no window: the logger shows its latest value, as MMEngine's does, so keeping every
    iteration's copy would only be work for ``flush``.
    """

    def __init__(self) -> None:
        self._window: dict[str, list[Any]] = {}
        self._latest: dict[str, Any] = {}
        self._no_window: dict[str, None] = {}  # an ordered set

    def update(self, name: str, value: Any) -> None:
        """Record one value of ``name``: part of the window's mean and its latest value."""
        self._window.setdefault(name, []).append(value)
        self._latest[name] = value

    def set_latest(self, name: str, value: Any) -> None:
        """Record ``name``'s current value; ``flush`` reports the latest, not a mean."""
        self._latest[name] = value
        self._no_window[name] = None

    def latest(self, name: str, default: float | None = None) -> float | None:
        value = self._latest.get(name)
        return default if value is None else as_float(value)

    def window_mean(self, name: str) -> float | None:
        values = self._window.get(name)
        if not values:
            return self.latest(name)
        return mean(values)

    def flush(self) -> dict[str, float]:
        """The mean of each name over the window (the latest value of those set with
        :meth:`set_latest`), then an empty window."""
        values = {name: as_float(self._latest[name]) for name in self._no_window}
        values.update((name, mean(window)) for name, window in self._window.items() if window)
        self._window.clear()
        return values
