"""What a hook may read from the runner: the typed protocol of every hook point's ``runner``.

:class:`RunnerView` lists, once, the attributes the runner keeps for hooks (MMEngine's names) and
the one method a hook may call. The hook specs (:mod:`customrun_core.hookspecs`) type their
``runner`` argument with it, the Runner's docstring and docs/hooks.md list the same names (a test
says so), and everything else on the runner is private. The members are read-only properties: a
hook reads them, and acts through the objects they return (the model, the optim wrapper, the
loops' documented attributes) and through the mutable arguments of its hook point.

A test double for a hook needs only the members that hook reads; ``isinstance(x, RunnerView)``
checks that ``x`` has them all (not their types).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import logging
    from pathlib import Path

    import torch
    from torch.utils.data import DataLoader

    from customrun_core.config import RunConfig
    from customrun_core.loops.base import BaseLoop
    from customrun_core.loops.training import TrainLoop
    from customrun_core.optim.wrapper import OptimWrapper
    from customrun_core.optim.wrapper_dict import OptimWrapperDict
    from customrun_core.scalars import ScalarBuffer
    from customrun_core.schedulers.base import ParamScheduler


@runtime_checkable
class RunnerView(Protocol):
    """The runner as a hook sees it.

    ``train_*``, ``optim_wrapper`` and ``param_schedulers`` are None in a run that does not train
    (``customrun test``, ``runner.val()``), ``val_*`` when there is no validation, ``test_*``
    outside a test run; inside the hook points of training they are set.
    """

    @property
    def cfg(self) -> RunConfig:
        """The run's validated config (read-only)."""

    @property
    def model(self) -> torch.nn.Module:
        """The model, wrapped under torchrun (DDP, FSDP); ``unwrap_model`` gives the model itself."""

    @property
    def optim_wrapper(self) -> OptimWrapper | OptimWrapperDict | None:
        """The optim wrapper, or a dict of them by submodule name (one optimizer per submodule)."""

    @property
    def param_schedulers(self) -> list[ParamScheduler] | dict[str, list[ParamScheduler]] | None:
        """The parameter schedulers in config order (per optim wrapper for an ``OptimWrapperDict``)."""

    @property
    def train_dataloader(self) -> DataLoader[Any] | None:
        """This process's share of the training data."""

    @property
    def val_dataloader(self) -> DataLoader[Any] | None:
        """The validation data."""

    @property
    def test_dataloader(self) -> DataLoader[Any] | None:
        """The test data."""

    @property
    def train_loop(self) -> TrainLoop | None:
        """The train loop: ``epoch``, ``iter``, ``max_epochs``, ``max_iters``, ``dataloader``, ..."""

    @property
    def val_loop(self) -> BaseLoop | None:
        """The validation loop."""

    @property
    def test_loop(self) -> BaseLoop | None:
        """The test loop."""

    @property
    def iter(self) -> int:
        """Finished training iterations (0 before training)."""

    @property
    def epoch(self) -> int:
        """Finished training epochs (not yet incremented in ``after_train_epoch``)."""

    @property
    def max_iters(self) -> int:
        """Training iterations of the whole run (0 when not training)."""

    @property
    def max_epochs(self) -> int:
        """Training epochs of the whole run (0 when not training)."""

    @property
    def work_dir(self) -> Path:
        """The run's work directory (exists; every process sees the same path)."""

    @property
    def rank(self) -> int:
        """This process's rank under torchrun; 0 in a single-process run."""

    @property
    def world_size(self) -> int:
        """The number of processes; 1 in a single-process run."""

    @property
    def device(self) -> torch.device:
        """The device this process trains on."""

    @property
    def logger(self) -> logging.Logger:
        """The run's logger: the console and, on rank 0, ``WORK_DIR/run.log``."""

    @property
    def scalars(self) -> ScalarBuffer:
        """Values recorded for logging (``update``, ``set_latest``; the LoggerHook flushes them)."""

    @property
    def seed(self) -> int:
        """The run's random seed (configured, or drawn and logged)."""

    def call_hook(self, point: str, **kwargs: Any) -> None:
        """Fire the hook point ``point`` on every hook with ``kwargs`` (custom loops call this too)."""
