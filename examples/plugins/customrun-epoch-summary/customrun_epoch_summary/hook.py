"""EpochSummaryHook: at the end of each training epoch, one log line with the epoch's mean losses.

An example of a hook plugin, written against customrun's public API only
(:class:`customrun_core.Hook`, the hook points' arguments and the runner attributes hooks may read).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from customrun_core import Hook, Priority
from customrun_core.errors import ConfigError


class EpochSummaryHook(Hook):
    """Logs ``epoch 2: loss 0.4321, 38 iterations in 1.2 s`` after each training epoch.

    Each of ``keys`` is averaged over the epoch's training iterations, from the ``outputs`` that the
    model's ``train_step`` returned (its log variables: ``loss`` and the loss terms). A key missing
    from the outputs of an iteration is left out of that iteration. After a resume inside an epoch,
    the first line covers the iterations trained since the resume. The hook keeps no state across
    runs, so it adds nothing to checkpoints.

    Args:
        keys: the output names to average, in the order they are logged.

    Attributes:
        lines: every line logged, in order (kept for tests and for other hooks to read).
    """

    priority = Priority.BELOW_NORMAL  # beside the LoggerHook: the losses are final by then

    def __init__(self, keys: Sequence[str] = ("loss",)) -> None:
        if not keys:  # customrun checks the type against the annotation before building the hook
            raise ConfigError(f"expected a non-empty list of output names, got {keys!r}", key="keys")
        self.keys = tuple(keys)
        self.lines: list[str] = []
        self._sums: dict[str, Any] = {}  # tensors (or numbers), read once per epoch
        self._counts: dict[str, int] = {}
        self._iterations = 0
        self._started = 0.0

    def before_train_epoch(self, runner: Any) -> None:
        self._sums = dict.fromkeys(self.keys, 0.0)
        self._counts = dict.fromkeys(self.keys, 0)
        self._iterations = 0
        self._started = time.perf_counter()

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self._iterations += 1
        if not isinstance(outputs, Mapping):
            return
        for key in self.keys:
            if key in outputs:
                # a tensor is summed as a tensor: reading its value here would wait for the GPU each iteration
                value = outputs[key]
                self._sums[key] = self._sums[key] + (value.detach() if hasattr(value, "detach") else value)
                self._counts[key] += 1

    def after_train_epoch(self, runner: Any) -> None:
        means = ", ".join(
            f"{key} {float(self._sums[key]) / self._counts[key]:.4f}"
            for key in self.keys
            if self._counts[key]
        )
        seconds = time.perf_counter() - self._started
        # runner.epoch counts finished epochs and is incremented after this hook point
        line = (
            f"epoch {runner.epoch + 1}: {means or 'no ' + '/'.join(self.keys)}, "
            f"{self._iterations} iterations in {seconds:.1f} s"
        )
        self.lines.append(line)
        runner.logger.info(line)
