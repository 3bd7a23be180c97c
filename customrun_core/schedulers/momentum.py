"""Momentum schedulers: the LR schedulers' twins, for SGD's ``momentum`` and Adam's ``betas[0]``.

As MMEngine's ``MomentumSchedulerMixin``: an optimizer whose groups have ``momentum`` (SGD,
RMSprop) is scheduled directly; an Adam-family optimizer (groups with ``betas``) gets a synthetic
group key ``momentum`` equal to ``betas[0]``, which the scheduler changes like any other value and
copies back into ``betas[0]`` after every step (``betas[1]`` is left alone).
"""

from __future__ import annotations

import sys
from typing import Any

from customrun_core.errors import ConfigError
from customrun_core.schedulers.base import ParamScheduler, fixed_param
from customrun_core.schedulers.lr import (
    ConstantParamScheduler,
    ExponentialParamScheduler,
    LinearParamScheduler,
    MultiStepParamScheduler,
    PolyParamScheduler,
    StepParamScheduler,
)


def uses_betas(optimizer: Any) -> bool:
    """Whether ``optimizer`` keeps its momentum in ``betas[0]`` (Adam family) rather than in
    ``momentum`` (SGD-like); MMEngine's test, on the optimizer's defaults, then on its groups.

    Raises:
        ConfigError: the optimizer has neither.
    """
    raw = getattr(optimizer, "optimizer", optimizer)  # an optim wrapper's torch optimizer
    keys = getattr(raw, "defaults", None) or optimizer.param_groups[0]
    if "momentum" in keys:
        return False
    if "betas" in keys:
        return True
    raise ConfigError(
        f"a momentum scheduler needs an optimizer with 'momentum' (SGD, RMSprop) or 'betas' (Adam, AdamW), "
        f"and {type(raw).__name__} has neither"
    )


class MomentumSchedulerMixin(ParamScheduler):
    """Lets a scheduler of ``momentum`` drive Adam's ``betas[0]``; put it before the scheduler class
    in the bases (``fixed_param(cls, "momentum", name, mixin=MomentumSchedulerMixin)`` does)."""

    def __init__(self, optimizer: Any, param_name: str, *args: Any, **kwargs: Any) -> None:
        self.use_betas = uses_betas(optimizer)
        if self.use_betas:
            for group in optimizer.param_groups:
                group[param_name] = group["betas"][0]
        super().__init__(optimizer, param_name, *args, **kwargs)

    def step(self, *args: Any, **kwargs: Any) -> None:
        """The scheduler's step, then ``betas[0] = momentum`` in every group (Adam family)."""
        super().step(*args, **kwargs)
        if self.use_betas:
            for group in self.optimizer.param_groups:
                group["betas"] = (group["momentum"], group["betas"][1])


def fixed_momentum(cls: type[ParamScheduler], name: str) -> type[ParamScheduler]:
    """The momentum twin of a generic scheduler class (``LinearMomentum`` from ``LinearParamScheduler``)."""
    module = sys._getframe(1).f_globals.get("__name__", cls.__module__)
    return fixed_param(cls, "momentum", name, mixin=MomentumSchedulerMixin, module=module)


ConstantMomentum = fixed_momentum(ConstantParamScheduler, "ConstantMomentum")
LinearMomentum = fixed_momentum(LinearParamScheduler, "LinearMomentum")
StepMomentum = fixed_momentum(StepParamScheduler, "StepMomentum")
MultiStepMomentum = fixed_momentum(MultiStepParamScheduler, "MultiStepMomentum")
ExponentialMomentum = fixed_momentum(ExponentialParamScheduler, "ExponentialMomentum")
PolyMomentum = fixed_momentum(PolyParamScheduler, "PolyMomentum")
