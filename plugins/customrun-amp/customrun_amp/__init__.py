"""customrun-amp: automatic mixed precision for customrun (``optim_wrapper.type = "AmpOptimWrapper"``)."""

from customrun_amp.wrapper import AmpOptimWrapper

__all__ = ["AmpOptimWrapper"]
