"""customrun-epoch-summary: one log line per training epoch (``custom_hooks = [{ type = "EpochSummaryHook" }]``)."""

from customrun_epoch_summary.hook import EpochSummaryHook

__all__ = ["EpochSummaryHook"]
