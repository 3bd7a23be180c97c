"""The values hooks record during training, averaged over each logging window."""

from __future__ import annotations

from typing import Any


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
