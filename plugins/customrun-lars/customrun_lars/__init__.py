"""customrun-lars: the LARS optimizer (MMPretrain's semantics, ``lars_exclude`` included) for customrun.

Installing this distribution is all a config needs for ``type = "LARS"``: customrun finds the
optimizer through the ``customrun.optimizers`` entry point. Importing this package imports torch
and nothing of customrun.
"""

from __future__ import annotations

from customrun_lars.optimizer import LARS

__version__ = "0.1.0"

__all__ = ["LARS", "__version__"]
