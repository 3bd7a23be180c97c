"""Parameter schedulers with MMEngine's semantics (``begin``/``end`` windows, chainable updates).

``ParamScheduler`` is the base class a plugin's scheduler subclasses; ``fixed_param`` and
``fixed_momentum`` make its LR and momentum forms. See docs/schedulers.md.
"""

from customrun_core.schedulers.base import INF, ParamScheduler, fixed_param
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
    PolyLRRatio,
    PolyParamScheduler,
    PolyRatioParamScheduler,
    StepLR,
    StepParamScheduler,
)
from customrun_core.schedulers.momentum import (
    ConstantMomentum,
    ExponentialMomentum,
    LinearMomentum,
    MomentumSchedulerMixin,
    MultiStepMomentum,
    PolyMomentum,
    StepMomentum,
    fixed_momentum,
)
from customrun_core.schedulers.onecycle import OneCycleLR, OneCycleParamScheduler
from customrun_core.schedulers.plateau import (
    ReduceOnPlateauLR,
    ReduceOnPlateauMomentum,
    ReduceOnPlateauParamScheduler,
)

__all__ = [
    "INF",
    "ConstantLR",
    "ConstantMomentum",
    "ConstantParamScheduler",
    "ExponentialLR",
    "ExponentialMomentum",
    "ExponentialParamScheduler",
    "LinearLR",
    "LinearMomentum",
    "LinearParamScheduler",
    "MomentumSchedulerMixin",
    "MultiStepLR",
    "MultiStepMomentum",
    "MultiStepParamScheduler",
    "OneCycleLR",
    "OneCycleParamScheduler",
    "ParamScheduler",
    "PolyLR",
    "PolyLRRatio",
    "PolyMomentum",
    "PolyParamScheduler",
    "PolyRatioParamScheduler",
    "ReduceOnPlateauLR",
    "ReduceOnPlateauMomentum",
    "ReduceOnPlateauParamScheduler",
    "StepLR",
    "StepMomentum",
    "StepParamScheduler",
    "fixed_momentum",
    "fixed_param",
]
