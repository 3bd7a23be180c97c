"""The seed's custom optimizer-wrapper constructor: a subclass of the default one."""

from __future__ import annotations

from customrun_core import register
from customrun_core.optim import DefaultOptimWrapperConstructor


@register("optim_wrapper_constructors")
class MyOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Builds what the default constructor builds; a project overrides ``__call__`` to decide its
    own parameter groups, as the seed's template shows."""

    def __init__(self, optim_wrapper_cfg, paramwise_cfg=None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def __call__(self, model):
        return super().__call__(model)
