"""LARS (layer-wise adaptive rate scaling) with MMPretrain's semantics, stepped with multi-tensor ops.

For each tensor ``w`` with gradient ``g`` in a parameter group (``lr``, ``momentum`` ``m``,
``dampening``, ``weight_decay`` ``wd``, ``eta``, ``nesterov``, and ``lars_exclude`` when the group
has it)::

    trust = eta * |w| / (|g| + wd * |w| + eps)   if not lars_exclude and |w| != 0 and |g| != 0, else 1
    d     = (g + wd * w) * trust * lr            (weight decay applies to excluded tensors too)
    buf   = d on the first step, then m * buf + (1 - dampening) * d
    d     = d + m * buf if nesterov else buf     (when m != 0)
    w     = w - d

Each stage is one ``torch._foreach_*`` call over all the tensors that share their group's settings,
device and dtype (so the one-tensor groups that ``paramwise_cfg`` makes are stepped together). Norms
and trust ratios stay tensors on the device: a step never waits for it (on CUDA, torch runs the
stages that multiply by per-tensor trust ratios tensor by tensor, still asynchronously). Existing
momentum buffers are updated in place: without Nesterov, a step after the first allocates no
model-sized temporary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["LARS"]

Params = Iterable[Tensor] | Iterable[dict[str, Any]]


class LARS(Optimizer):
    """SGD with layer-wise adaptive rate scaling (You, Gitman and Ginsburg, 2017), as MMPretrain.

    A parameter group with ``lars_exclude = true`` (which ``paramwise_cfg.custom_keys`` copies into
    the groups it matches) takes plain SGD steps with momentum; its weight decay still applies,
    so configs pair ``lars_exclude`` with ``decay_mult = 0``.

    Args:
        params: tensors to optimize, or parameter-group dicts.
        lr: base learning rate, folded into the update before momentum.
        momentum: momentum factor.
        weight_decay: L2 penalty added to the gradient.
        dampening: dampening of the momentum (not applied on the first step).
        eta: LARS coefficient (trust coefficient).
        nesterov: use Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
        eps: added to the trust ratio's denominator (one value for all groups).

    Raises:
        ValueError: a negative ``lr``, ``momentum``, ``weight_decay`` or ``eta``, or ``nesterov``
            without momentum or with dampening.
    """

    # What a group reads besides the arguments: customrun checks custom_keys' entries against it.
    param_group_flags: ClassVar[dict[str, Any]] = {"lars_exclude": bool}

    def __init__(
        self,
        params: Params,
        lr: float,
        momentum: float = 0,
        weight_decay: float = 0,
        dampening: float = 0,
        eta: float = 0.001,
        nesterov: bool = False,
        eps: float = 1e-8,
    ) -> None:
        _check_arguments(lr, momentum, weight_decay, dampening, eta, nesterov)
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

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Take one optimization step.

        Args:
            closure: re-evaluates the model and returns the loss (called with gradients enabled).

        Returns:
            The closure's loss, or None without a closure.
        """
        loss = closure_loss(closure)
        for (settings, _, _), params in _buckets(self.param_groups).items():
            self._step_bucket(params, settings)
        return loss

    def _step_bucket(self, params: list[Tensor], settings: _Settings) -> None:
        grads = [p.grad for p in params]
        bufs = [self.state[p].get("momentum_buffer") for p in params] if settings.momentum != 0 else []
        # _buckets keeps only tensors with a gradient
        bufs = _lars_update(params, grads, bufs, eps=self.eps, **settings._asdict())  # type: ignore[arg-type]
        for param, buf in zip(params, bufs, strict=False):  # no buffers without momentum
            self.state[param]["momentum_buffer"] = buf


def closure_loss(closure: Callable[[], Any] | None) -> Any:
    """What an optimizer's ``step(closure)`` returns: the closure's loss, evaluated with gradients
    enabled, or None without a closure."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


class _Settings(NamedTuple):
    """What a parameter group sets for the step of each of its tensors."""

    lr: float
    momentum: float
    dampening: float
    weight_decay: float
    eta: float
    nesterov: bool
    exclude: bool

    @classmethod
    def of(cls, group: dict[str, Any]) -> _Settings:
        """The settings of a parameter group (``lars_exclude`` is False where the group lacks it)."""
        return cls(
            lr=group["lr"],
            momentum=group["momentum"],
            dampening=group["dampening"],
            weight_decay=group["weight_decay"],
            eta=group["eta"],
            nesterov=group["nesterov"],
            exclude=bool(group.get("lars_exclude", False)),
        )


Bucket = tuple[_Settings, torch.device, torch.dtype]


def _buckets(groups: Iterable[dict[str, Any]]) -> dict[Bucket, list[Tensor]]:
    """The tensors that have a gradient, by the settings of their group, device and dtype.

    One multi-tensor call steps each bucket, so the one-tensor groups that ``paramwise_cfg``
    makes (one per parameter, as MMEngine) are stepped together when their settings agree.

    Raises:
        RuntimeError: a sparse gradient.
    """
    buckets: dict[Bucket, list[Tensor]] = {}
    for group in groups:
        settings = _Settings.of(group)
        for param in group["params"]:
            if param.grad is None:
                continue
            if param.grad.is_sparse:
                raise RuntimeError("LARS does not support sparse gradients")
            buckets.setdefault((settings, param.device, param.dtype), []).append(param)
    return buckets


def _check_arguments(
    lr: float, momentum: float, weight_decay: float, dampening: float, eta: float, nesterov: bool
) -> None:
    """Refuse what MMPretrain refuses, with one line naming the argument.

    MMPretrain only rejects a negative ``lr`` that is not a float (``lr=-0.1`` passes); any
    negative ``lr`` is refused here.

    Raises:
        ValueError: the first argument out of range.
    """
    for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay), ("eta", eta)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"nesterov = true needs momentum > 0 and dampening = 0, got momentum {momentum} "
            f"and dampening {dampening}"
        )


def _lars_update(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: Sequence[Tensor | None],
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    eta: float,
    nesterov: bool,
    exclude: bool,
    eps: float,
) -> list[Tensor]:
    """One LARS step of ``params`` (in place), tensors that share one device, dtype and settings.

    Args:
        params: the tensors to update.
        grads: their gradients.
        bufs: their momentum buffers (None where there is none yet); empty when ``momentum == 0``.
        lr: learning rate; momentum, dampening, weight_decay, eta, nesterov: the group's values.
        exclude: the group's ``lars_exclude``: a trust ratio of 1.
        eps: added to the trust ratio's denominator.

    Returns:
        The momentum buffers after the step (empty when ``momentum == 0``).
    """
    scale = _scales(params, grads, lr, weight_decay, eta, eps, exclude)
    if momentum == 0:
        torch._foreach_sub_(params, _directions(params, grads, weight_decay, scale))
        return []
    new_bufs = _momentum_buffers(params, grads, bufs, scale, momentum, dampening, weight_decay)
    if nesterov:  # d + m * buf, a new tensor: a buffer this step created is its own d
        update = _directions(params, grads, weight_decay, scale)
        torch._foreach_add_(update, new_bufs, alpha=momentum)
        torch._foreach_sub_(params, update)
    else:
        torch._foreach_sub_(params, new_bufs)
    return new_bufs


def _scales(
    params: list[Tensor],
    grads: list[Tensor],
    lr: float,
    weight_decay: float,
    eta: float,
    eps: float,
    exclude: bool,
) -> float | Tensor:
    """``lr * trust``: ``lr`` when excluded, else one value per tensor, a vector on the tensors'
    device (float32 at least), never read back."""
    if exclude:
        return lr
    dtype = torch.promote_types(params[0].dtype, torch.float32)
    w_norm = torch.stack(torch._foreach_norm(params)).to(dtype)
    g_norm = torch.stack(torch._foreach_norm(grads)).to(dtype)
    trust = torch.where(
        (w_norm != 0) & (g_norm != 0), eta * w_norm / (g_norm + weight_decay * w_norm + eps), 1.0
    )
    return trust * lr


def _directions(
    params: list[Tensor], grads: list[Tensor], weight_decay: float, scale: float | Tensor
) -> list[Tensor]:
    """New tensors ``d = (g + weight_decay * w) * scale``."""
    update = list(torch._foreach_mul(grads, _factors(scale)))
    if weight_decay != 0:
        _add_scaled_(update, params, scale * weight_decay)
    return update


def _momentum_buffers(
    params: list[Tensor],
    grads: list[Tensor],
    bufs: Sequence[Tensor | None],
    scale: float | Tensor,
    momentum: float,
    dampening: float,
    weight_decay: float,
) -> list[Tensor]:
    """The buffers after this step: ``d`` where there was none (no dampening on the first step),
    else ``momentum * buf + (1 - dampening) * d``, in place and without a ``d`` tensor."""
    old = [i for i, buf in enumerate(bufs) if buf is not None]
    new = [i for i, buf in enumerate(bufs) if buf is None]
    result = list(bufs)
    if old:
        old_bufs = _pick(bufs, old)
        factor = _pick_scale(scale, old, len(bufs)) * (1 - dampening)
        torch._foreach_mul_(old_bufs, momentum)
        _add_scaled_(old_bufs, _pick(grads, old), factor)
        if weight_decay != 0:
            _add_scaled_(old_bufs, _pick(params, old), factor * weight_decay)
    if new:
        fresh = _directions(
            _pick(params, new), _pick(grads, new), weight_decay, _pick_scale(scale, new, len(bufs))
        )
        for i, buf in zip(new, fresh, strict=True):
            result[i] = buf
    return result  # type: ignore[return-value]  # every None was replaced


def _add_scaled_(targets: list[Tensor], sources: list[Tensor], factor: float | Tensor) -> None:
    """``target += factor * source`` for each pair; ``factor`` is one number or one per pair."""
    if isinstance(factor, Tensor):
        torch._foreach_addcmul_(targets, sources, _factors(factor))
    else:
        torch._foreach_add_(targets, sources, alpha=factor)


def _factors(scale: float | Tensor) -> Any:
    """What a ``torch._foreach_*`` call takes: one number, or 0-dim tensors (one per tensor)."""
    return list(scale.unbind()) if isinstance(scale, Tensor) else scale


def _pick_scale(scale: float | Tensor, indices: list[int], count: int) -> float | Tensor:
    """The scales of the tensors at ``indices`` (of ``count``)."""
    return scale[indices] if isinstance(scale, Tensor) and len(indices) < count else scale


def _pick(items: Sequence[Any], indices: list[int]) -> list[Any]:
    """``items`` at ``indices`` (all of them when ``indices`` covers every item)."""
    return list(items) if len(indices) == len(items) else [items[i] for i in indices]
