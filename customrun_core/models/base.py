"""MMEngine's model contract: ``train_step``, ``val_step`` and ``test_step`` built on ``forward``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn


def unpack_batch(data_batch: Any) -> tuple[Any, Any]:
    """``(inputs, targets)`` from a batch: a mapping with ``inputs``/``targets``, a pair, or inputs alone."""
    if isinstance(data_batch, Mapping):
        return data_batch["inputs"], data_batch.get("targets")
    if isinstance(data_batch, Sequence) and len(data_batch) == 2:
        return data_batch[0], data_batch[1]
    return data_batch, None


def parse_losses(losses: torch.Tensor | Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The total loss to optimise and the values to log, as MMEngine's ``parse_losses``.

    A bare tensor is the loss. In a dict, every entry whose key contains ``loss`` is added to the
    total (a list of tensors counts as its sum); every entry is logged, detached.
    """
    if isinstance(losses, torch.Tensor):
        losses = {"loss": losses}
    values: dict[str, torch.Tensor] = {}
    total: torch.Tensor | None = None
    for name, value in losses.items():
        summed = sum(v.mean() for v in value) if isinstance(value, list | tuple) else value
        tensor = summed if isinstance(summed, torch.Tensor) else torch.as_tensor(summed)
        if not tensor.is_floating_point():
            tensor = tensor.float()
        if tensor.ndim:  # a scalar is its own mean: no extra op (this runs every iteration)
            tensor = tensor.mean()
        values[name] = tensor
        if "loss" in name:
            total = tensor if total is None else total + tensor
    if total is None:
        raise ValueError(
            f"the model returned no loss: expected a key containing 'loss', got {sorted(values)}"
        )
    log_vars = {k: v.detach() for k, v in values.items()}
    if values.get("loss") is not total:  # the sum of several terms, logged as "loss"
        log_vars["loss"] = total.detach()
    return total, log_vars


class BaseModel(nn.Module):
    """A model that implements ``forward(inputs, targets=None, mode="loss"|"predict")``.

    ``mode="loss"`` returns a loss tensor or a dict of them (keys containing ``loss`` are summed),
    ``mode="predict"`` returns what the evaluator's metrics read (logits for a classifier).
    """

    def forward(self, inputs: Any, targets: Any = None, mode: str = "loss") -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward(inputs, targets, mode)")

    def train_step(self, data_batch: Any, optim_wrapper: Any) -> dict[str, torch.Tensor]:
        """One optimisation step: forward in the wrapper's context, then ``update_params``."""
        inputs, targets = unpack_batch(data_batch)
        with optim_wrapper.optim_context(self):
            losses = self(inputs, targets, mode="loss")
        loss, log_vars = parse_losses(losses)
        optim_wrapper.update_params(loss, terms=log_vars)
        return log_vars

    def val_step(self, data_batch: Any) -> Any:
        """Predictions for one validation batch (gradients are already off)."""
        inputs, targets = unpack_batch(data_batch)
        return self(inputs, targets, mode="predict")

    def test_step(self, data_batch: Any) -> Any:
        """Predictions for one test batch."""
        return self.val_step(data_batch)
