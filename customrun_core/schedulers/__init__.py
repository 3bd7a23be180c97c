"""Parameter schedulers with MMEngine's semantics (``begin``/``end`` windows, chainable updates)."""

from customrun_core.schedulers.base import INF, ParamScheduler
from customrun_core.schedulers.lr import (
    ConstantLR,
    ConstantParamScheduler,
    ExponentialLR,
    ExponentialParamScheduler,
    LinearLR,
    LinearParamScheduler,
    MultiStepLR,
    MultiStepParamScheduler,
    PolyLR,
    PolyParamScheduler,
    StepLR,
    StepParamScheduler,
)

__all__ = [
    "INF",
    "ConstantLR",
    "ConstantParamScheduler",
    "ExponentialLR",
    "ExponentialParamScheduler",
    "LinearLR",
    "LinearParamScheduler",
    "MultiStepLR",
    "MultiStepParamScheduler",
    "ParamScheduler",
    "PolyLR",
    "PolyParamScheduler",
    "StepLR",
    "StepParamScheduler",
]
