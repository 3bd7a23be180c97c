"""The graceful stop: SIGINT / SIGTERM end training after the current iteration, with a checkpoint.

The first signal asks for a stop; a second one exits at once (status 128 + signal). Under torchrun
every process must stop after the same iteration, so the processes agree on whether any of them got
a signal once every :data:`STOP_AGREEMENT_EVERY` iterations (one one-number all-reduce, which on
CUDA waits for the device: not every iteration).

Only the main process reacts. SLURM's ``scancel``, pre-emption and ``kill -- -PGID`` signal the
whole process group, DataLoader workers included: a worker ignores SIGINT and SIGTERM
(:func:`ignore_stop_signals`, its ``worker_init_fn``), and the main process blocks both while it
forks workers (:func:`stop_signals_blocked`), so that a signal landing before that ``worker_init_fn``
runs waits in the new worker and is discarded there, instead of killing it (torch's own SIGTERM
handler in a worker dies of a signal not sent by its parent, and the main process then raises).
The main process ends its workers itself as the stopped run winds down. Since a worker ignores
SIGTERM, ``Process.terminate()`` no longer ends it: multiprocessing's own exit handler terminates
and then joins the workers still alive at interpreter exit (an iterator never exhausted nor
deleted), which would wait forever, so workers are killed at exit first (:func:`kill_at_exit`).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shlex
import signal
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from customrun_core import distributed
from customrun_core.errors import TrainingInterrupted
from customrun_core.work_dir import CONFIG_FILE

__all__ = [
    "STOP_AGREEMENT_EVERY",
    "GracefulStop",
    "ignore_stop_signals",
    "kill_at_exit",
    "stop_signals_blocked",
]

# Under torchrun, how often (in iterations) the processes agree on whether a stop signal arrived.
STOP_AGREEMENT_EVERY = 10

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM wait (blocked in this thread) and arrive on leaving: the
    processes forked inside start with them blocked. Nothing is blocked outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def ignore_stop_signals(_worker_id: int = 0) -> None:
    """A DataLoader worker's ``worker_init_fn``: SIGINT and SIGTERM are ignored from now on (one that
    arrived while they were blocked is discarded), so a signal to the process group reaches the
    main process only. The worker's seeds are torch's, set before this runs."""
    for number in _STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


_workers_to_kill: weakref.WeakSet[Any] = weakref.WeakSet()


def kill_at_exit(processes: Iterable[Any]) -> None:
    """Kill these ``multiprocessing`` processes (workers that ignore SIGTERM) if they are still alive
    when the interpreter exits. Registered after multiprocessing's exit handler, so it runs first."""
    if not _workers_to_kill:
        atexit.unregister(_kill_workers)
        atexit.register(_kill_workers)
    _workers_to_kill.update(processes)


def _kill_workers() -> None:
    alive = [process for process in _workers_to_kill if process.is_alive()]
    for process in alive:
        process.kill()
    for process in alive:
        process.join(timeout=5)


def _shell_path(path: Path) -> str:
    """``path`` to paste into a POSIX shell: relative to the working directory when under it."""
    path = path.absolute()
    return shlex.quote(str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path))


class GracefulStop:
    """Whether a stop signal arrived, for one run of ``world_size`` processes.

    Attributes:
        signal: the signal that asked for the stop (a peer's counts as SIGTERM), or None.
    """

    def __init__(self, world_size: int, logger: logging.Logger) -> None:
        self.world_size = world_size
        self.logger = logger
        self.signal: signal.Signals | None = None
        self._pid = os.getpid()  # the process whose signals count (handling_signals sets it)

    def requested(self, iteration: int, agree: bool = False) -> bool:
        """Whether training stops after ``iteration`` (finished iterations), on every process alike.

        ``agree``: under torchrun, agree now whatever the iteration (every process must ask at the
        same point, e.g. after a validation, which costs far more than the agreement)."""
        if self.world_size == 1:  # known since start-up: no torch.distributed queries per iteration
            return self.signal is not None
        if iteration % STOP_AGREEMENT_EVERY and not agree:
            return False  # a signal waits for the next agreement: no process stops alone
        stop = distributed.all_reduce_sum([float(self.signal is not None)])[0] > 0
        if stop and self.signal is None:
            self.signal = signal.SIGTERM  # a peer's signal
        return stop

    def interruption(self, iteration: int, work_dir: Path, source: str) -> TrainingInterrupted:
        """The error that ends a run stopped after ``iteration`` (its exit status is 128 + the
        signal), with the command that goes on with this same run: ``customrun train
        WORK_DIR/config.toml --resume``, the resolved config the run wrote into its ``work_dir``
        (every override, and the work directory itself). Paths are relative to the working
        directory when under it (``work_dir`` in that file is relative to it too), and quoted for
        a POSIX shell; under torchrun the command is torchrun's. When the run imported modules
        from the directory of its config file ``source`` (``custom_imports`` or ``"module:Name"``
        types beside it, which ``WORK_DIR/config.toml`` would not find), ``PYTHONPATH`` names it."""
        stop = self.signal or signal.SIGTERM  # set whenever a stop was requested
        program = (
            "customrun" if self.world_size == 1 else "torchrun <the same torchrun options> -m customrun_core"
        )
        beside = Path(source).absolute().parent
        if beside.resolve() != Path.cwd().resolve() and str(beside.resolve()) in sys.path:
            program = f"PYTHONPATH={_shell_path(beside)} {program}"  # import_paths put it on sys.path
        return TrainingInterrupted(
            f"stopped by {stop.name} after iteration {iteration}, checkpoint saved;"
            f" go on with: {program} train {_shell_path(work_dir / CONFIG_FILE)} --resume",
            stop,
        )

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """While inside, SIGINT and SIGTERM ask for the stop (the previous handlers come back after).
        Signal handlers exist only in the main thread: elsewhere this does nothing."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self._pid = os.getpid()
        previous = {number: signal.signal(number, self._on_signal) for number in _STOP_SIGNALS}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _on_signal(self, number: int, _frame: Any) -> None:
        if os.getpid() != self._pid:
            return  # a forked child (a worker before its worker_init_fn): the main process decides
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
