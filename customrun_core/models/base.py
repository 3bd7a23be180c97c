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
    log_vars: dict[str, torch.Tensor] = {}
    for name, value in losses.items():
        total_value = sum(v.mean() for v in value) if isinstance(value, list | tuple) else value
        tensor = torch.as_tensor(total_value)
        log_vars[name] = (tensor if tensor.is_floating_point() else tensor.float()).mean()
    total = sum(v for k, v in log_vars.items() if "loss" in k)
    if not isinstance(total, torch.Tensor):
        raise ValueError(
            f"the model returned no loss: expected a key containing 'loss', got {sorted(log_vars)}"
        )
    log_vars = {k: v.detach() for k, v in log_vars.items()}
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
