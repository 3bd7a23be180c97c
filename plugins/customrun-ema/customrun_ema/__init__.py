"""customrun-ema: MMEngine's EMAHook, a moving average of the weights (``custom_hooks = [{ type = "EMAHook" }]``)."""

from customrun_ema.averaging import ExponentialMovingAverage, MomentumAnnealingEMA, StochasticWeightAverage
from customrun_ema.hook import EMAHook

__all__ = ["EMAHook", "ExponentialMovingAverage", "MomentumAnnealingEMA", "StochasticWeightAverage"]
