"""The graceful stop: SIGINT / SIGTERM end training after the current iteration, with a checkpoint.

The first signal asks for a stop; a second one exits at once (status 128 + signal). Under torchrun
every process must stop after the same iteration, so the processes agree on whether any of them got
a signal once every :data:`STOP_AGREEMENT_EVERY` iterations (one one-number all-reduce, which on
CUDA waits for the device: not every iteration).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from customrun_core import distributed
from customrun_core.errors import TrainingInterrupted

__all__ = ["STOP_AGREEMENT_EVERY", "GracefulStop"]

# Under torchrun, how often (in iterations) the processes agree on whether a stop signal arrived.
STOP_AGREEMENT_EVERY = 10


class GracefulStop:
    """Whether a stop signal arrived, for one run of ``world_size`` processes.

    Attributes:
        signal: the signal that asked for the stop (a peer's counts as SIGTERM), or None.
    """

    def __init__(self, world_size: int, logger: logging.Logger) -> None:
        self.world_size = world_size
        self.logger = logger
        self.signal: signal.Signals | None = None

    def requested(self, iteration: int) -> bool:
        """Whether training stops after ``iteration`` (finished iterations), on every process alike."""
        if self.world_size == 1:  # known since start-up: no torch.distributed queries per iteration
            return self.signal is not None
        if iteration % STOP_AGREEMENT_EVERY:
            return False  # a signal waits for the next agreement: no process stops alone
        stop = distributed.all_reduce_sum([float(self.signal is not None)])[0] > 0
        if stop and self.signal is None:
            self.signal = signal.SIGTERM  # a peer's signal
        return stop

    def interruption(self, iteration: int, source: str) -> TrainingInterrupted:
        """The error that ends a run stopped after ``iteration`` (its exit status is 128 + the
        signal), saying how to go on with the config file ``source``."""
        stop = self.signal or signal.SIGTERM  # set whenever a stop was requested
        return TrainingInterrupted(
            f"stopped by {stop.name} after iteration {iteration}, checkpoint saved;"
            f" go on with: customrun train {source} --resume",
            stop,
        )

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """While inside, SIGINT and SIGTERM ask for the stop (the previous handlers come back after).
        Signal handlers exist only in the main thread: elsewhere this does nothing."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            number: signal.signal(number, self._on_signal) for number in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _on_signal(self, number: int, _frame: Any) -> None:
        if self.signal is not None:
            os._exit(128 + number)  # the second signal: no cleanup, as asked
        self.signal = signal.Signals(number)
        when = (  # under torchrun every process stops at the same iteration: the next agreement
            "after this iteration"
            if self.world_size == 1
            else f"at the processes' next agreement (within {STOP_AGREEMENT_EVERY} iterations)"
        )
        self.logger.warning(
            f"{self.signal.name} received: stopping {when} with a checkpoint (send it again to exit at once)"
        )
