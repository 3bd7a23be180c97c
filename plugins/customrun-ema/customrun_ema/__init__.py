"""customrun-ema: an exponential moving average of the weights (``custom_hooks = [{ type = "EMAHook" }]``)."""

from customrun_ema.hook import EMAHook

__all__ = ["EMAHook"]
