"""MMEngine's step, linear, constant, exponential and polynomial schedulers, and their LR forms.

Formulas are MMEngine's chainable ones: ``b`` is the group's current value, ``t`` the step inside
the window, ``T = end - begin - 1`` the window's last step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from customrun_core.errors import ConfigError
from customrun_core.schedulers.base import INF, ParamScheduler, fixed_param


class ConstantParamScheduler(ParamScheduler):
    """Multiplies by ``factor`` for steps 0..T-1 and restores the value at T."""

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        factor: float = 1.0 / 3,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        if not 0 < factor <= 1:
            raise ConfigError(f"expected a factor in (0, 1], got {factor}", key="factor")
        self.factor = factor
        self.total_iters = end - begin - 1
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def get_value(self) -> list[float]:
        if self.last_step == 0:
            return [b * self.factor for b in self.current()]
        if self.last_step == self.total_iters:
            return [b / self.factor for b in self.current()]
        return self.current()


class LinearParamScheduler(ParamScheduler):
    """Moves linearly from ``start_factor`` to ``end_factor`` times the base value over the window."""

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        for key, value in (("start_factor", start_factor), ("end_factor", end_factor)):
            if not 0 <= value <= 1:
                raise ConfigError(f"expected a factor in [0, 1], got {value}", key=key)
        if start_factor == 0:
            raise ConfigError(
                "expected a factor in (0, 1]: a chained linear schedule cannot start at 0", key="start_factor"
            )
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = end - begin - 1
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def get_value(self) -> list[float]:
        t, span = self.last_step, self.end_factor - self.start_factor
        if t == 0:
            return [b * self.start_factor for b in self.current()]
        ratio = 1 + span / (self.total_iters * self.start_factor + (t - 1) * span)
        return [b * ratio for b in self.current()]


class StepParamScheduler(ParamScheduler):
    """Multiplies by ``gamma`` every ``step_size`` steps."""

    epoch_fields = ("step_size",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        step_size: int,
        gamma: float = 0.1,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        if step_size < 1:
            raise ConfigError(f"expected an integer >= 1, got {step_size}", key="step_size")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def get_value(self) -> list[float]:
        if self.last_step == 0 or self.last_step % self.step_size:
            return self.current()
        return [b * self.gamma for b in self.current()]


class MultiStepParamScheduler(ParamScheduler):
    """Multiplies by ``gamma`` at each milestone (a milestone listed twice applies twice)."""

    epoch_fields = ("milestones",)

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        milestones: Sequence[int],
        gamma: float = 0.1,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        self.milestones = dict(Counter(milestones))  # a plain dict: checkpoints load with weights_only
        self.gamma = gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def get_value(self) -> list[float]:
        factor = self.gamma ** self.milestones.get(self.last_step, 0)
        return [b * factor for b in self.current()]


class ExponentialParamScheduler(ParamScheduler):
    """Multiplies by ``gamma`` every step after the first."""

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        gamma: float,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        self.gamma = gamma
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def get_value(self) -> list[float]:
        if self.last_step == 0:
            return self.current()
        return [b * self.gamma for b in self.current()]


class PolyParamScheduler(ParamScheduler):
    """Decays polynomially to ``eta_min`` at the window's last step: ``eta_min + (B - eta_min)(1 - t/T)^power``."""

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        eta_min: float = 0.0,
        power: float = 1.0,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        self.eta_min, self.power = eta_min, power
        self.total_iters = end - begin - 1
        super().__init__(optimizer, param_name, begin, end, last_step, by_epoch)

    def floors(self) -> list[float]:
        """Each group's floor: ``eta_min``."""
        return [self.eta_min] * len(self.base_values)

    def get_value(self) -> list[float]:
        if self.last_step == 0:
            return self.current()
        keep = (1 - 1 / (self.total_iters - self.last_step + 1)) ** self.power
        return [(b - m) * keep + m for b, m in zip(self.current(), self.floors(), strict=True)]


class PolyRatioParamScheduler(PolyParamScheduler):
    """MMSegmentation's ``PolyLRRatio`` on any key: :class:`PolyParamScheduler` whose floor may be
    ``eta_min_ratio`` times each group's base value, ``m + (B - m)(1 - t/T)^power`` per group.

    Raises:
        ConfigError: both ``eta_min`` and ``eta_min_ratio`` are set (MMSegmentation silently takes
            the ratio).
    """

    def __init__(
        self,
        optimizer: Any,
        param_name: str,
        eta_min: float | None = None,
        eta_min_ratio: float | None = None,
        power: float = 1.0,
        begin: float = 0,
        end: float = INF,
        last_step: int = -1,
        by_epoch: bool = True,
    ) -> None:
        if eta_min is not None and eta_min_ratio is not None:
            raise ConfigError(
                f"expected eta_min or eta_min_ratio, got both (eta_min = {eta_min}, "
                f"eta_min_ratio = {eta_min_ratio})",
                key="eta_min",
            )
        self.eta_min_ratio = eta_min_ratio
        super().__init__(optimizer, param_name, eta_min or 0.0, power, begin, end, last_step, by_epoch)

    def floors(self) -> list[float]:
        """Each group's floor: ``eta_min``, or ``eta_min_ratio`` times its base value."""
        if self.eta_min_ratio is None:
            return super().floors()
        return [base * self.eta_min_ratio for base in self.base_values]


ConstantLR = fixed_param(ConstantParamScheduler, "lr", "ConstantLR")
LinearLR = fixed_param(LinearParamScheduler, "lr", "LinearLR")
StepLR = fixed_param(StepParamScheduler, "lr", "StepLR")
MultiStepLR = fixed_param(MultiStepParamScheduler, "lr", "MultiStepLR")
ExponentialLR = fixed_param(ExponentialParamScheduler, "lr", "ExponentialLR")
PolyLR = fixed_param(PolyParamScheduler, "lr", "PolyLR")
PolyLRRatio = fixed_param(PolyRatioParamScheduler, "lr", "PolyLRRatio")
