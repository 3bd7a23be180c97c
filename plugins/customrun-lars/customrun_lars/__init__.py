"""customrun-lars: the LARS optimizer (MMPretrain's semantics, ``lars_exclude`` included) for customrun.

Installing this distribution is all a config needs for ``type = "LARS"`` or ``type = "Lamb"``
(MMPretrain's LAMB): customrun finds the optimizers through the ``customrun.optimizers`` entry
point. Importing this package imports torch and nothing of customrun.
"""

from __future__ import annotations

from customrun_lars.lamb import Lamb
from customrun_lars.optimizer import LARS

__version__ = "0.1.0"

__all__ = ["LARS", "Lamb", "__version__"]
