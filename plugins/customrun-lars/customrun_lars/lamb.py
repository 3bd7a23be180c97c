"""LAMB (You et al., 2019) as MMPretrain's ``Lamb`` steps it (timm's variant, NVIDIA's FusedLAMB
behaviour): the gradients are first scaled down together when their global norm exceeds
``max_grad_norm``, then, per tensor ``w`` with scaled gradient ``g`` in a group at step ``t``::

    m      = beta1 * m + (1 - beta1 if grad_averaging else 1) * g
    v      = beta2 * v + (1 - beta2) * g * g
    update = (m / c1) / (sqrt(v) / sqrt(c2) + eps) + weight_decay * w
             c1 = 1 - beta1 ** t, c2 = 1 - beta2 ** t   (1 and 1 without bias_correction)
    trust  = |w| / |update| when both norms are > 0, else 1; min(trust, 1) with trust_clip;
             applied only when weight_decay != 0 or always_adapt
    w      = w - lr * trust * update
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from customrun_lars.optimizer import closure_loss

__all__ = ["Lamb"]


class Lamb(Optimizer):
    """MMPretrain's (timm's) LAMB: Adam moments, a global gradient-norm clip, and a layer-wise
    trust ratio on parameters that are weight-decayed (or all, with ``always_adapt``).

    Args:
        params: tensors to optimize, or parameter-group dicts.
        lr: learning rate.
        bias_correction: divide the moments by ``1 - beta ** step``.
        betas: the moments' decay rates.
        eps: added to the second moment's square root.
        weight_decay: added to the update as ``weight_decay * w`` (before the trust ratio).
        grad_averaging: weigh the gradient by ``1 - beta1`` in the first moment (else by 1).
        max_grad_norm: the gradients of all groups are divided by ``norm / max_grad_norm`` when
            their global L2 norm exceeds it (the optimizer's value, not a group's, as MMPretrain);
            None: never.
        trust_clip: cap the trust ratio at 1 (LAMBC).
        always_adapt: apply the trust ratio to parameters without weight decay too.

    Raises:
        ValueError: a negative ``lr``, ``eps`` or ``weight_decay``, a beta outside [0, 1), or a
            ``max_grad_norm`` that is not positive.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        bias_correction: bool = True,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
        grad_averaging: bool = True,
        max_grad_norm: float | None = 1.0,
        trust_clip: bool = False,
        always_adapt: bool = False,
    ) -> None:
        for name, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            if value < 0:
                raise ValueError(f"Lamb: {name} must be >= 0, got {value}")
        if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"Lamb: betas must be two numbers in [0, 1), got {betas}")
        if max_grad_norm is not None and max_grad_norm <= 0:
            raise ValueError(f"Lamb: max_grad_norm must be > 0 (or None: no clipping), got {max_grad_norm}")
        defaults = {
            "lr": lr,
            "bias_correction": bias_correction,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "grad_averaging": grad_averaging,
            "max_grad_norm": max_grad_norm,
            "trust_clip": trust_clip,
            "always_adapt": always_adapt,
        }
        super().__init__(params, defaults)

    def _clip_divisor(self) -> Tensor | None:
        """``norm / max_grad_norm`` when the global gradient norm exceeds ``max_grad_norm``, else
        1 (a tensor: the step never waits for the device); None without gradients or a limit."""
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        limit = self.defaults["max_grad_norm"]
        if any(g.is_sparse for g in grads):
            raise RuntimeError("Lamb does not support sparse gradients")
        if not grads or limit is None:
            return None
        device = grads[0].device
        norms = torch.stack([n.to(device) for n in torch._foreach_norm(grads)])
        total = torch.linalg.vector_norm(norms)
        return torch.clamp(total / limit, min=1.0)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Take one optimization step (every group counts a step, as MMPretrain's); returns
        :func:`closure_loss`."""
        loss = closure_loss(closure)
        divisor = self._clip_divisor()
        for group in self.param_groups:
            group["step"] = group.get("step", 0) + 1
            for param in group["params"]:
                if param.grad is not None:
                    grad = param.grad if divisor is None else param.grad / divisor.to(param.grad.device)
                    self._update(param, grad, group)
        return loss

    def _update(self, param: Tensor, grad: Tensor, group: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        step = group["step"]
        c1, c2 = (1 - beta1**step, 1 - beta2**step) if group["bias_correction"] else (1.0, 1.0)
        state = self.state[param]
        if not state:
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1 if group["grad_averaging"] else 1.0)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        update = (exp_avg / c1).div_((exp_avg_sq.sqrt() / math.sqrt(c2)).add_(group["eps"]))
        weight_decay = group["weight_decay"]
        if weight_decay != 0:
            update.add_(param, alpha=weight_decay)
        if weight_decay != 0 or group["always_adapt"]:
            w_norm = torch.linalg.vector_norm(param)
            u_norm = torch.linalg.vector_norm(update)
            trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
            if group["trust_clip"]:
                trust = torch.clamp(trust, max=1.0)
            update.mul_(trust)
        param.add_(update, alpha=-group["lr"])
