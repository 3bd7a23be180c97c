"""Cosine annealing (Loshchilov & Hutter's SGDR without restarts): MMEngine's
``CosineAnnealingParamScheduler`` and its LR and momentum forms.

The formula is MMEngine's (and torch's) chainable one: ``b`` is the group's current value, ``B``
its base value, ``t`` the step inside the window, ``m`` the floor (``eta_min``, or
``B * eta_min_ratio``)::

    t == 0                              -> b
    (t - 1 - T_max) % (2 * T_max) == 0  -> b + (B - m) * (1 - cos(pi / T_max)) / 2
    otherwise                           -> (1 + cos(pi t / T_max)) / (1 + cos(pi (t - 1) / T_max)) * (b - m) + m

Alone, from ``b = B`` at ``t = 0``, that is ``m + (B - m) * (1 + cos(pi t / T_max)) / 2``, which
keeps oscillating (back up to ``B`` at ``2 T_max``) if the window is longer than ``T_max``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from customrun_core.errors import ConfigError
from customrun_core.schedulers import INF, ParamScheduler, fixed_momentum, fixed_param


def check_floor(eta_min: float | None, eta_min_ratio: float | None, required: bool) -> float | None:
    """``eta_min`` as the scheduler keeps it: at most one of the two floors may be set.

    Args:
        eta_min: the floor as a value.
        eta_min_ratio: the floor as a fraction of each group's base value.
        required: whether one of them must be set (``CosineRestart``); otherwise neither means
            ``eta_min = 0`` (``CosineAnnealing``).

    Raises:
        ConfigError: both are set, or neither while one is required.
    """
    if eta_min is not None and eta_min_ratio is not None:
        raise ConfigError(
            f"expected eta_min or eta_min_ratio, got both (eta_min = {eta_min}, "
            f"eta_min_ratio = {eta_min_ratio})",
            key="eta_min",
        )
    if eta_min is None and eta_min_ratio is None:
        if required:
            raise ConfigError(
                "expected eta_min or eta_min_ratio (exactly one is required), got neither", key="eta_min"
            )
        return 0.0
    return eta_min


def floors(eta_min: float | None, eta_min_ratio: float | None, base_values: Sequence[float]) -> list[float]:
    """Each group's floor ``m``: ``eta_min``, or ``base * eta_min_ratio`` when that is set."""
    if eta_min_ratio is None:
        return [float(eta_min or 0.0)] * len(base_values)
    return [base * eta_min_ratio for base in base_values]


class CosineAnnealingParamScheduler(ParamScheduler):
    """Anneals from the base value down to a floor along half a cosine of ``T_max`` steps.

    Args:
        optimizer: the optimizer or optim wrapper whose groups it changes.
        param_name: the group key it schedules.
        T_max: the half-period in steps; default ``end - begin``, the window (so the floor itself
            is never written: the window's last step is ``T_max - 1``).
        eta_min: the floor as a value; 0 when neither floor is given.
        eta_min_ratio: the floor as a fraction of each group's base value (instead of ``eta_min``).
        begin: the first step of the window.
        end: the step after the window's last.
        last_step: the step to resume from.
        by_epoch: whether a step is an epoch (else an iteration).
    """

    epoch_fields = ("T_max",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        T_max: int | None = None,
        eta_min: float | None = None,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
        eta_min_ratio: float | None = None,
    ) -> None:
        if T_max is not None and T_max < 1:
            raise ConfigError(f"expected an integer >= 1, got {T_max}", key="T_max")
        self.eta_min = check_floor(eta_min, eta_min_ratio, required=False)
        self.eta_min_ratio = eta_min_ratio
        self.T_max = T_max if T_max is not None else end - begin
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def get_value(self) -> list[float]:
        t, period = self.last_step, self.T_max
        current = self.current()
        if t == 0:
            return current
        mins = floors(self.eta_min, self.eta_min_ratio, self.base_values)
        if (t - 1 - period) % (2 * period) == 0:  # the trough: the ratio below would divide by 0
            rise = (1 - math.cos(math.pi / period)) / 2
            return [b + (base - m) * rise for b, base, m in zip(current, self.base_values, mins, strict=True)]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [ratio * (b - m) + m for b, m in zip(current, mins, strict=True)]


CosineAnnealingLR = fixed_param(CosineAnnealingParamScheduler, "lr", "CosineAnnealingLR")
CosineAnnealingMomentum = fixed_momentum(CosineAnnealingParamScheduler, "CosineAnnealingMomentum")


class _ZeroStaysZero(CosineAnnealingParamScheduler):
    """Cosine annealing of ``weight_decay`` in which a group whose base value is 0 stays at 0
    (a floor above 0 would otherwise raise it): MMPretrain's ``CosineAnnealingWeightDecay``."""

    def get_value(self) -> list[float]:
        values = super().get_value()
        return [0.0 if base == 0 else v for v, base in zip(values, self.base_values, strict=True)]


CosineAnnealingWeightDecay = fixed_param(_ZeroStaysZero, "weight_decay", "CosineAnnealingWeightDecay")
