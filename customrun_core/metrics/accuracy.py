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
        if outputs.dim() == 2 and max(self.topk) > outputs.shape[1]:  # what check_topk could not see
            raise ConfigError(_too_large(self.topk, outputs.shape[1], "the model outputs"), key="topk")
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


def _too_large(topk: Sequence[int], classes: int, source: str) -> str:
    return f"expected each k <= {classes}, the number of classes {source}, got {max(topk)}"


def check_topk(table: Any, model_cfg: Any) -> None:
    """Refuse, before training, a ``topk`` beyond the model's classes when the model table states
    them: one ``num_classes`` integer anywhere in it (a backbone's, a head's). A model that states
    none, or several different ones, is checked by :meth:`Accuracy.process` at the first batch."""
    topk = table.get("topk", 1) if isinstance(table, dict) else 1
    ks = [topk] if isinstance(topk, int) else topk
    if not isinstance(ks, list) or not ks or not all(isinstance(k, int) for k in ks):
        return  # the signature check reports it
    stated: set[int] = set()
    pending = [model_cfg]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            value = node.get("num_classes")
            if isinstance(value, int) and not isinstance(value, bool):
                stated.add(value)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    if len(stated) == 1 and max(ks) > (classes := stated.pop()):
        raise ConfigError(_too_large(ks, classes, "model.num_classes states"), key="topk")
