"""Imported by the torchrun runs (``custom_imports = ["probe"]``): a hook that records what each
process saw, and a model with its own ``train_step``. Copied into each test's directory."""

from __future__ import annotations

from typing import Any

import torch

from customrun_core import Hook, is_model_wrapper, register, unwrap_model
from customrun_core.models.base import unpack_batch
from customrun_core.models.classifier import ClassifierModel


@register("hooks")
class RankProbe(Hook):
    """Writes ``WORK_DIR/rank<R>.pt`` after the run; raises on rank 1 at iteration ``fail_at``."""

    def __init__(self, fail_at: int = -1) -> None:
        self.fail_at = fail_at
        self.metrics: list[dict[str, float]] = []
        self.saves = 0

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if runner.rank == 1 and runner.iter == self.fail_at:
            raise RuntimeError("probe failure on rank 1")

    def after_val_epoch(self, runner: Any, metrics: dict | None = None) -> None:
        self.metrics.append(dict(metrics or {}))

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        self.saves += 1  # every process saves a sharded (FSDP) checkpoint; only rank 0 other kinds

    def after_run(self, runner: Any) -> None:
        record = {
            "state_dict": _full(unwrap_model(runner.model).state_dict()),
            "metrics": self.metrics,
            "saves": self.saves,
            "wrapped": is_model_wrapper(runner.model),
            "world_size": runner.world_size,
            "iter": runner.iter,
        }
        torch.save(record, runner.work_dir / f"rank{runner.rank}.pt")


def _full(state_dict: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Whole tensors, also of a model sharded with FSDP (each ``full_tensor()`` is a collective)."""
    return {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in state_dict.items()}


@register("models")
class OwnStepClassifier(ClassifierModel):
    """A classifier whose ``train_step`` is its own, not BaseModel's."""

    def train_step(self, data_batch: Any, optim_wrapper: Any) -> dict[str, torch.Tensor]:
        inputs, targets = unpack_batch(data_batch)
        with optim_wrapper.optim_context(self):
            loss = self(inputs, targets, mode="loss")["loss"] * 1.0
        optim_wrapper.update_params(loss)
        return {"loss": loss.detach()}
