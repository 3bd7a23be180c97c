"""Optimizer wrappers and the constructor that builds them from ``optim_wrapper``."""

from customrun_core.optim.constructor import DefaultOptimWrapperConstructor, build_optim_wrapper
from customrun_core.optim.wrapper import OptimWrapper

__all__ = ["DefaultOptimWrapperConstructor", "OptimWrapper", "build_optim_wrapper"]
