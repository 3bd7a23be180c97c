"""customrun-layer-decay: layer-wise learning-rate decay for customrun.

Installing this distribution is all a config needs for
``optim_wrapper.constructor = "LearningRateDecayOptimizerConstructor"`` (MMSegmentation's) or
``"LearningRateDecayOptimWrapperConstructor"`` (MMPretrain's): customrun finds the constructors through the
``customrun.optim_wrapper_constructors`` entry point.
"""

from __future__ import annotations

from customrun_layer_decay.constructor import (
    LayerDecayOptimizerConstructor,
    LearningRateDecayOptimizerConstructor,
    no_decay,
)
from customrun_layer_decay.families import FAMILIES, find_family
from customrun_layer_decay.pretrain import LearningRateDecayOptimWrapperConstructor

__version__ = "0.1.0"

__all__ = [
    "FAMILIES",
    "LayerDecayOptimizerConstructor",
    "LearningRateDecayOptimWrapperConstructor",
    "LearningRateDecayOptimizerConstructor",
    "__version__",
    "find_family",
    "no_decay",
]
