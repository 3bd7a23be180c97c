"""Top-k classification accuracy, in percent as MMPretrain reports it (``accuracy/top1``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from customrun_core.errors import ConfigError
from customrun_core.models.base import unpack_batch


class Accuracy:
    """Share of samples whose target is among the ``k`` highest logits, for each k in ``topk``.

    ``process`` reads targets from the batch and logits from ``val_step``'s outputs; ``compute``
    returns ``{"accuracy/top1": 97.5, ...}`` (percent).
    """

    def __init__(self, topk: int | Sequence[int] = (1,)) -> None:
        self.topk = (topk,) if isinstance(topk, int) else tuple(topk)
        if not self.topk or any(k < 1 for k in self.topk):
            raise ConfigError(f"expected positive integers, got {topk!r}", key="topk")
        self.reset()

    def reset(self) -> None:
        self.correct = dict.fromkeys(self.topk, 0)
        self.count = 0

    def process(self, data_batch: Any, outputs: torch.Tensor) -> None:
        _, targets = unpack_batch(data_batch)
        ranked = outputs.topk(max(self.topk), dim=1).indices
        hits = ranked == targets.view(-1, 1)
        for k in self.topk:
            self.correct[k] += int(hits[:, :k].any(dim=1).sum())
        self.count += len(targets)

    def sync(self, reduce: Callable[[list[float]], list[float]]) -> None:
        """Replace the counts with their sums over every process (``reduce`` sums element-wise)."""
        summed = reduce([self.count, *(self.correct[k] for k in self.topk)])
        self.count = round(summed[0])
        self.correct = {k: round(v) for k, v in zip(self.topk, summed[1:], strict=True)}

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            return {}
        return {f"accuracy/top{k}": 100.0 * self.correct[k] / self.count for k in self.topk}
