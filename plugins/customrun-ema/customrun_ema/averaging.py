"""MMEngine's averaging strategies (``mmengine.model.averaged_model``), one tensor at a time.

EMAHook's ``ema_type`` names one of these classes, with MMEngine's names, arguments, defaults and
formulas. Each computes the next value of one averaged tensor from the model's current one;
EMAHook decides when (``interval``, ``begin_iter``/``begin_epoch``) and keeps the tensors. The update
count ``steps`` is MMEngine's: the number of updates since the average started, the first of
which (``steps == 0``) copies the weights instead of averaging them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from customrun_core.errors import ConfigError, closest, did_you_mean

if TYPE_CHECKING:
    from torch import Tensor

DEFAULT_MOMENTUM = 0.0002
DEFAULT_GAMMA = 100


class Averaging:
    """A strategy: the next value of an averaged tensor (MMEngine's ``BaseAveragedModel.avg_func``).

    Args:
        interval: average every ``interval`` updates (the others only count).
    """

    def __init__(self, interval: int = 1) -> None:
        self.interval = interval

    def average(self, averaged: Tensor, source: Tensor, steps: int) -> Tensor:
        """The new average, a new tensor; ``steps`` (> 0, a multiple of ``interval``) counts the updates
        before this one."""
        raise NotImplementedError


class ExponentialMovingAverage(Averaging):
    """``averaged = (1 - momentum) * averaged + momentum * source``, MMEngine's convention: ``momentum``
    is the weight of the current weights (a small number; MMEngine's default 0.0002)."""

    def __init__(self, momentum: float = DEFAULT_MOMENTUM, interval: int = 1) -> None:
        super().__init__(interval)
        self.momentum = momentum

    def average(self, averaged: Tensor, source: Tensor, steps: int) -> Tensor:
        return self._blend(averaged, source, self.momentum)

    @staticmethod
    def _blend(averaged: Tensor, source: Tensor, momentum: float) -> Tensor:
        # MMEngine's expression, in its order (out of place, then copied): the same rounding
        return averaged * (1 - momentum) + source * momentum


class MomentumAnnealingEMA(ExponentialMovingAverage):
    """An EMA whose momentum starts large and anneals: ``max(momentum, gamma / (gamma + steps))``."""

    def __init__(
        self, momentum: float = DEFAULT_MOMENTUM, gamma: float = DEFAULT_GAMMA, interval: int = 1
    ) -> None:
        super().__init__(momentum, interval)
        self.gamma = gamma

    def momentum_at(self, steps: int) -> float:
        """The momentum of the update made when ``steps`` updates came before it."""
        return max(self.momentum, self.gamma / (self.gamma + steps))

    def average(self, averaged: Tensor, source: Tensor, steps: int) -> Tensor:
        return self._blend(averaged, source, self.momentum_at(steps))


class StochasticWeightAverage(Averaging):
    """The plain mean of the weights at each averaging: ``averaged + (source - averaged) / (n + 1)``
    with ``n = steps // interval`` the count of weights averaged so far (SWA, Izmailov et al. 2018)."""

    def average(self, averaged: Tensor, source: Tensor, steps: int) -> Tensor:
        return averaged + (source - averaged) / (steps // self.interval + 1)


EMA_TYPES: dict[str, type[Averaging]] = {
    cls.__name__: cls for cls in (ExponentialMovingAverage, MomentumAnnealingEMA, StochasticWeightAverage)
}


def build_averaging(ema_type: str, interval: int, momentum: float | None, gamma: float | None) -> Averaging:
    """The strategy ``ema_type`` names, its arguments checked; a :class:`ConfigError` names the key.

    ``momentum`` and ``gamma`` are None when the config does not give them (then MMEngine's defaults);
    a strategy that does not take one refuses it, as MMEngine's constructor would.
    """
    if ema_type not in EMA_TYPES:
        hint = did_you_mean(closest(ema_type, EMA_TYPES))
        raise ConfigError(f"expected one of {', '.join(EMA_TYPES)}, got {ema_type!r}{hint}", key="ema_type")
    _check_int(interval, "interval", 1)
    kwargs: dict[str, Any] = {"interval": interval}
    if momentum is not None:
        if ema_type == "StochasticWeightAverage":
            raise ConfigError(f"{ema_type} takes no momentum, got {momentum}", key="momentum")
        if not 0.0 < momentum < 1.0:
            raise ConfigError(
                f"expected a number between 0 and 1 (exclusive), got {momentum}", key="momentum"
            )
        kwargs["momentum"] = momentum
    if gamma is not None:
        if ema_type != "MomentumAnnealingEMA":
            raise ConfigError(
                f"only MomentumAnnealingEMA takes gamma, and ema_type is {ema_type}", key="gamma"
            )
        if not gamma > 0:
            raise ConfigError(f"expected a number > 0, got {gamma}", key="gamma")
        kwargs["gamma"] = gamma
    return EMA_TYPES[ema_type](**kwargs)


def _check_int(value: int, key: str, least: int) -> None:
    if value < least:
        raise ConfigError(f"expected an integer >= {least}, got {value}", key=key)
