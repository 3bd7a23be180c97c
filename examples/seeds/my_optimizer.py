"""The seed's custom optimizer ``MyOptimizer(a, b, c)``: SGD whose lr is ``a * b / c``."""

from __future__ import annotations

import torch
from torch.optim import Optimizer

from customrun_core import register


@register("optimizers")
class MyOptimizer(Optimizer):
    """Plain gradient descent with learning rate ``a * b / c`` (a stand-in for a real optimizer)."""

    def __init__(self, params, a: float, b: float, c: float) -> None:
        super().__init__(params, {"lr": a * b / c})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    param.add_(param.grad, alpha=-group["lr"])
        return loss
