"""The one-cycle policy (Smith & Topin): up from ``eta_max / div_factor`` to ``eta_max``, then down.

Unlike the chainable schedulers, each value is computed from fixed anchors written on the groups
(``initial_<param>``, ``max_<param>``, ``min_<param>``), so it overrides whatever another scheduler
wrote: MMEngine's ``OneCycleParamScheduler``, which is torch's ``OneCycleLR`` with
``cycle_momentum = False`` inside a ``[begin, end)`` window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from customrun_core.errors import ConfigError
from customrun_core.schedulers.base import INF, ParamScheduler, fixed_param, per_group


def _anneal(strategy: str, start: float, end: float, pct: float) -> float:
    if strategy == "cos":
        return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


class OneCycleParamScheduler(ParamScheduler):
    """The one-cycle schedule over ``total_steps`` steps (default ``end - begin``).

    Args:
        eta_max: the peak value (one number, or one per parameter group). Required here; MMEngine's
            default of 0 schedules a value of 0 throughout.
        total_steps: the cycle's length in steps; default ``end - begin``.
        pct_start: the share of the cycle spent going up.
        anneal_strategy: ``"cos"`` or ``"linear"``.
        div_factor: the start value is ``eta_max / div_factor``.
        final_div_factor: the final value is ``eta_max / div_factor / final_div_factor``.
        three_phase: up, back down to the start value, then down to the final value (fast.ai's
            variant) instead of up then down.

    Unlike the other schedulers it is iteration-based by default (``by_epoch = false``), as in
    MMEngine; without ``end`` it therefore spans the whole run's iterations.
    """

    epoch_fields = ("total_steps",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        eta_max: float | Sequence[float],
        total_steps: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = False,
    ) -> None:
        if total_steps is None:
            if end == INF:
                raise ConfigError("required when end is not set: the cycle's length", key="total_steps")
            total_steps = int(end - begin)
        if total_steps < 1:
            raise ConfigError(f"expected an integer >= 1, got {total_steps}", key="total_steps")
        if end != INF and end - begin > total_steps + 1:
            raise ConfigError(
                f"the window [{begin}, {end}) has {end - begin} steps but total_steps is {total_steps}: "
                f"the cycle would fail at step {total_steps + 1}; leave total_steps out or set end = "
                f"{begin + total_steps}",
                key="total_steps",
            )
        if not 0 <= pct_start <= 1:
            raise ConfigError(f"expected a number in [0, 1], got {pct_start}", key="pct_start")
        if anneal_strategy not in ("cos", "linear"):
            raise ConfigError(f"expected 'cos' or 'linear', got {anneal_strategy!r}", key="anneal_strategy")
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        self.div_factor, self.final_div_factor = div_factor, final_div_factor
        up = float(pct_start * total_steps) - 1
        # (last step of the phase, anchor it starts from, anchor it ends at), as torch's OneCycleLR
        self.phases: list[tuple[float, str, str]] = (
            [(up, "initial", "max"), (2 * up, "max", "initial"), (total_steps - 1, "initial", "min")]
            if three_phase
            else [(up, "initial", "max"), (total_steps - 1, "max", "min")]
        )
        if last_step == -1:
            peaks = per_group(optimizer, eta_max, "eta_max")
            for group, peak in zip(optimizer.param_groups, peaks, strict=True):
                group[f"initial_{param_name}"] = peak / div_factor
                group[f"max_{param_name}"] = peak
                group[f"min_{param_name}"] = peak / div_factor / final_div_factor
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def get_value(self) -> list[float]:
        t = self.last_step
        if t > self.total_steps:
            raise ConfigError(
                f"stepped {t + 1} times but total_steps is {self.total_steps}", key="total_steps"
            )
        values = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, (last, begin_anchor, end_anchor) in enumerate(self.phases):
                if t <= last or i == len(self.phases) - 1:
                    # a phase one step long (pct_start * total_steps == 1) ends where it starts;
                    # torch divides by zero there
                    pct = (t - start) / (last - start) if last != start else 1.0
                    values.append(
                        _anneal(
                            self.anneal_strategy,
                            group[f"{begin_anchor}_{self.param_name}"],
                            group[f"{end_anchor}_{self.param_name}"],
                            pct,
                        )
                    )
                    break
                start = last
        return values


OneCycleLR = fixed_param(OneCycleParamScheduler, "lr", "OneCycleLR")
