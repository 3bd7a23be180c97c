"""The values hooks record during training, averaged over each logging window."""

from __future__ import annotations

from typing import Any


def as_float(value: Any) -> float:
    """A Python float from a number or a one-element tensor (the only place a sync happens)."""
    return float(value.item()) if hasattr(value, "item") else float(value)


class ScalarBuffer:
    """Named scalars: the latest value of each, and a window of values since the last ``flush``.

    Tensors are stored as they are and turned into floats only when read, so recording a loss
    every iteration does not synchronise a GPU.
    """

    def __init__(self) -> None:
        self._window: dict[str, list[Any]] = {}
        self._latest: dict[str, Any] = {}

    def update(self, name: str, value: Any) -> None:
        self._window.setdefault(name, []).append(value)
        self._latest[name] = value

    def latest(self, name: str, default: float | None = None) -> float | None:
        value = self._latest.get(name)
        return default if value is None else as_float(value)

    def window_mean(self, name: str) -> float | None:
        values = self._window.get(name)
        if not values:
            return self.latest(name)
        return sum(as_float(v) for v in values) / len(values)

    def flush(self) -> dict[str, float]:
        """The mean of each name over the window, then an empty window."""
        means = {
            name: sum(as_float(v) for v in values) / len(values)
            for name, values in self._window.items()
            if values
        }
        self._window.clear()
        return means
