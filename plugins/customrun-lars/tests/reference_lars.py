"""A per-parameter LARS written straight from MMPretrain's ``LARS.step``, for the tests and benchmark.

Norms are Python floats (``.item()``), one tensor at a time, exactly as MMPretrain computes them;
the fast path in ``customrun_lars.optimizer`` must give the same numbers. Argument checks are left
to the real optimizer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer


class ReferenceLARS(Optimizer):
    """MMPretrain's LARS step, one parameter at a time."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0,
        weight_decay: float = 0,
        dampening: float = 0,
        eta: float = 0.001,
        nesterov: bool = False,
        eps: float = 1e-8,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "eta": eta,
        }
        self.eps = eps
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step; returns the closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._step_param(p, group)
        return loss

    def _step_param(self, p: Tensor, group: dict[str, Any]) -> None:
        weight_decay, momentum = group["weight_decay"], group["momentum"]
        d_p = p.grad
        assert d_p is not None
        local_lr = 1.0
        if not group.get("lars_exclude", False):
            weight_norm = torch.norm(p).item()
            grad_norm = torch.norm(d_p).item()
            if weight_norm != 0 and grad_norm != 0:
                local_lr = group["eta"] * weight_norm / (grad_norm + weight_decay * weight_norm + self.eps)
        d_p = d_p.add(p, alpha=weight_decay).mul(local_lr * group["lr"])
        if momentum != 0:
            state = self.state[p]
            if "momentum_buffer" not in state:
                buf = state["momentum_buffer"] = torch.clone(d_p).detach()
            else:
                buf = state["momentum_buffer"]
                buf.mul_(momentum).add_(d_p, alpha=1 - group["dampening"])
            d_p = d_p.add(buf, alpha=momentum) if group["nesterov"] else buf
        p.add_(-d_p)
