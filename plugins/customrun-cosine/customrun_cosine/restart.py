"""Cosine annealing with restarts (SGDR): MMEngine's ``CosineRestartParamScheduler`` and its LR and
momentum forms.

The window is cut into ``periods``; period ``i`` starts (step ``s = 0``) with an absolute jump to
``eta_max = B * restart_weights[i]`` and anneals toward the floor ``m`` with the chainable cosine
step ``(1 + cos(pi s / P)) / (1 + cos(pi (s - 1) / P)) * (b - m) + m``, i.e.
``m + (eta_max - m) * (1 + cos(pi s / P)) / 2``. After the last period nothing more is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from customrun_core.errors import ConfigError
from customrun_core.schedulers import INF, ParamScheduler, fixed_momentum, fixed_param

from customrun_cosine.annealing import check_floor, floors


def check_periods(periods: Sequence[int], restart_weights: Sequence[float]) -> None:
    """Raise a :class:`ConfigError` for an empty period list, a period under 1 step, or a number of
    weights other than one per period."""
    if not periods or any(period < 1 for period in periods):
        raise ConfigError(f"expected a non-empty array of integers >= 1, got {list(periods)}", key="periods")
    if len(restart_weights) != len(periods):
        raise ConfigError(
            f"expected one weight per period ({len(periods)}), got {len(restart_weights)}",
            key="restart_weights",
        )


class CosineRestartParamScheduler(ParamScheduler):
    """Cosine annealing restarted at the start of every period, from a weighted base value.

    Args:
        optimizer: the optimizer or optim wrapper whose groups it changes.
        param_name: the group key it schedules.
        periods: the length of each cycle in steps; the cycles follow each other from ``begin``.
        restart_weights: one per period: a cycle starts at ``base value * weight``.
        eta_min: the floor as a value.
        eta_min_ratio: the floor as a fraction of each group's base value. Exactly one of
            ``eta_min`` and ``eta_min_ratio`` is required.
        begin: the first step of the window.
        end: the step after the window's last.
        last_step: the step to resume from.
        by_epoch: whether a step is an epoch (else an iteration).
    """

    epoch_fields = ("periods",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        periods: Sequence[int],
        restart_weights: Sequence[float] = (1.0,),
        eta_min: float | None = None,
        eta_min_ratio: float | None = None,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        check_periods(periods, restart_weights)
        self.eta_min = check_floor(eta_min, eta_min_ratio, required=True)
        self.eta_min_ratio = eta_min_ratio
        # plain lists: the state dict loads with weights_only
        self.periods = list(periods)
        self.restart_weights = [float(w) for w in restart_weights]
        self.cumulative_periods = list(accumulate(self.periods))
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def cycle(self) -> int | None:
        """The index of the period ``last_step`` falls in; None after the last one."""
        return next((i for i, total in enumerate(self.cumulative_periods) if self.last_step < total), None)

    def get_value(self) -> list[float]:
        index = self.cycle()
        current = self.current()
        if index is None:
            return current
        step = self.last_step - (self.cumulative_periods[index - 1] if index else 0)
        weight = self.restart_weights[index]
        if step == 0:  # a restart: absolute, not chained
            return [base * weight for base in self.base_values]
        period = self.periods[index]
        ratio = (1 + math.cos(math.pi * step / period)) / (1 + math.cos(math.pi * (step - 1) / period))
        mins = floors(self.eta_min, self.eta_min_ratio, self.base_values)
        return [ratio * (b - m) + m for b, m in zip(current, mins, strict=True)]


CosineRestartLR = fixed_param(CosineRestartParamScheduler, "lr", "CosineRestartLR")
CosineRestartMomentum = fixed_momentum(CosineRestartParamScheduler, "CosineRestartMomentum")
