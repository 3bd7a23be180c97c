"""customrun-cosine: MMEngine's cosine parameter schedulers (``CosineAnnealing*``, ``CosineRestart*``),
and MMPretrain's ``CosineAnnealingWeightDecay``.

Installing this distribution is all a config needs for ``type = "CosineAnnealingLR"`` and the
others: customrun finds them through the ``customrun.param_schedulers`` entry point.
"""

from __future__ import annotations

from customrun_cosine.annealing import (
    CosineAnnealingLR,
    CosineAnnealingMomentum,
    CosineAnnealingParamScheduler,
    CosineAnnealingWeightDecay,
)
from customrun_cosine.restart import CosineRestartLR, CosineRestartMomentum, CosineRestartParamScheduler

__version__ = "0.1.0"

__all__ = [
    "CosineAnnealingLR",
    "CosineAnnealingMomentum",
    "CosineAnnealingParamScheduler",
    "CosineAnnealingWeightDecay",
    "CosineRestartLR",
    "CosineRestartMomentum",
    "CosineRestartParamScheduler",
    "__version__",
]
