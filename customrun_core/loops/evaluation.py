"""Validation and test loops: predictions of every batch fed to the evaluator."""

from __future__ import annotations

from typing import Any

import torch

from customrun_core.batch import to_device
from customrun_core.loops.base import BaseLoop


class _EvalLoop(BaseLoop):
    mode = ""

    def __init__(self, runner: Any, dataloader: Any, evaluator: Any) -> None:
        super().__init__(runner, dataloader)
        self.evaluator = evaluator

    def run(self) -> dict[str, float]:
        """before_{mode} -> per batch {mode}_step -> evaluate -> after_{mode}_epoch(metrics); returns metrics."""
        runner, mode = self.runner, self.mode
        runner.call_hook(f"before_{mode}")
        runner.call_hook(f"before_{mode}_epoch")
        runner.model.eval()
        self.evaluator.reset()
        step = getattr(runner.model, f"{mode}_step")
        with torch.no_grad():
            for batch_idx, batch in enumerate(self.dataloader):
                data_batch = to_device(batch, runner.device)
                runner.call_hook(f"before_{mode}_iter", batch_idx=batch_idx, data_batch=data_batch)
                outputs = step(data_batch)
                self.evaluator.process(data_batch, outputs)
                runner.call_hook(
                    f"after_{mode}_iter", batch_idx=batch_idx, data_batch=data_batch, outputs=outputs
                )
        metrics = self.evaluator.evaluate()
        runner.call_hook(f"after_{mode}_epoch", metrics=metrics)
        runner.call_hook(f"after_{mode}")
        return metrics


class ValLoop(_EvalLoop):
    """One pass over ``val_dataloader`` with ``model.val_step``; metrics from ``val_evaluator``."""

    mode = "val"


class TestLoop(_EvalLoop):
    """One pass over ``test_dataloader`` with ``model.test_step``; metrics from ``test_evaluator``."""

    mode = "test"
