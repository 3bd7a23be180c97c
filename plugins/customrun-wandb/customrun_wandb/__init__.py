"""customrun-wandb: what a run logs, also in a Weights & Biases run (``type = "WandbLoggerHook"``)."""

from customrun_wandb.hook import WandbLoggerHook

__all__ = ["WandbLoggerHook"]
