"""The benchmark's models and data as customrun components, for a config's ``custom_imports``.

``custom_imports = {imports = ["customrun_components"]}`` (with ``benchmarks/`` on ``sys.path``)
makes ``ProbedMLP`` and ``SmallCNN`` (models) and ``RandomImages`` (a dataset) available by name,
the very classes the hand-written loop and the peers train, and puts torch on one thread as the
other measured processes do.
"""

from __future__ import annotations

import workloads

from customrun_core import register

register("models")(workloads.ProbedMLP)
register("models")(workloads.SmallCNN)
register("datasets")(workloads.RandomImages)
workloads.one_thread()
