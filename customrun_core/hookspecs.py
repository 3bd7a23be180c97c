"""Every hook point of a customrun run, as pluggy hook specifications.

A hook point fires at a fixed moment of a run; MMEngine's set and order, with ``runner`` always
first. Implement one either as a plain method of a :class:`customrun_core.Hook` subclass (as in
MMEngine, no decorator) or as a function marked with :data:`hookimpl` in a module that a
``customrun.plugins`` entry point names. An implementation may take any subset of a hook point's
arguments, by name. Return values are ignored: a hook acts through the runner and the mutable
arguments documented below.

What a hook may read from the runner is :class:`customrun_core.RunnerView`, the type of every
``runner`` argument below: the attributes and ``call_hook`` that the runner keeps for hooks.

Order within one run (epoch-based loop, validation every epoch)::

    before_run
      [after_load_checkpoint]               when resuming or loading weights
      before_train
        before_train_epoch
          before_train_iter / after_train_iter      for each batch
                                                   [before_optimizer_step] inside the step, when it
                                                   steps the optimizer (once per optim wrapper)
                                                   [after_log_record] when LoggerHook logs it
        after_train_epoch                          [before_save_checkpoint]
        before_val, before_val_epoch, before_val_iter / after_val_iter, after_val_epoch, after_val
                                                   [after_log_record] inside after_val_epoch
      after_train
    after_run

``customrun test`` runs ``before_run``, the ``*_test*`` points and ``after_run``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView
    from customrun_core.optim.wrapper import OptimWrapper

PROJECT = "customrun"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marker for pluggy-style hook implementations (``@hookimpl(tryfirst=True)`` and so on)."""

# Names the runner and the docs iterate over, in firing order.
HOOK_POINTS: tuple[str, ...] = (
    "before_run",
    "after_load_checkpoint",
    "before_train",
    "before_train_epoch",
    "before_train_iter",
    "before_optimizer_step",
    "after_train_iter",
    "after_log_record",
    "after_train_epoch",
    "before_val",
    "before_val_epoch",
    "before_val_iter",
    "after_val_iter",
    "after_val_epoch",
    "after_val",
    "before_save_checkpoint",
    "after_train",
    "before_test",
    "before_test_epoch",
    "before_test_iter",
    "after_test_iter",
    "after_test_epoch",
    "after_test",
    "after_run",
)


@hookspec
def before_run(runner: RunnerView) -> None:
    """Fires once, first, before ``train``, ``val`` or ``test`` builds its loop's state.

    The model, optim wrapper and schedulers exist; no checkpoint has been loaded yet.
    May change: anything on the model or optimizer (e.g. initialise weights).
    """


@hookspec
def after_load_checkpoint(runner: RunnerView, checkpoint: dict) -> None:
    """Fires when a checkpoint was read (``load_from`` or resume), before it is applied.

    ``checkpoint`` is the dict read from the file; a hook may change it (e.g. swap in EMA weights
    under ``state_dict``) and restores its own state from the keys it wrote in
    ``before_save_checkpoint``. The model, optimizer and loop position are set from it afterwards.
    """


@hookspec
def before_train(runner: RunnerView) -> None:
    """Fires once when the train loop starts, after any checkpoint was loaded.

    ``runner.epoch`` and ``runner.iter`` hold the position training starts from.
    """


@hookspec
def after_train(runner: RunnerView) -> None:
    """Fires once when the train loop ends (after the last validation)."""


@hookspec
def before_train_epoch(runner: RunnerView) -> None:
    """Fires at the start of each training epoch, before the first batch is drawn.

    An iteration-based loop fires it once, before its first iteration. ``DistSamplerSeedHook``
    sets the sampler's epoch here.
    """


@hookspec
def after_train_epoch(runner: RunnerView) -> None:
    """Fires at the end of each training epoch; ``runner.epoch`` is not yet incremented.

    ``ParamSchedulerHook`` steps epoch-based schedulers and ``CheckpointHook`` saves here.
    """


@hookspec
def before_train_iter(runner: RunnerView, batch_idx: int, data_batch: Any) -> None:
    """Fires before each training step, with the batch already on the run's device.

    ``batch_idx`` counts batches within the epoch (the global iteration in an iteration-based
    loop); ``runner.iter`` is the number of finished training iterations. May change the model's
    attributes (the seeds' ``NewHook`` sets a hyper-parameter here) and the batch in place.
    """


@hookspec
def before_optimizer_step(runner: RunnerView, optim_wrapper: OptimWrapper) -> None:
    """Fires inside the training step, when ``optim_wrapper`` is about to step its optimizer: once
    per optim wrapper that steps (each member of an ``OptimWrapperDict`` on its own), never on
    gradient-accumulation iterations, between ``before_train_iter`` and ``after_train_iter``.

    The gradients in the optimizer's parameters (``param.grad``) are final: the window's backward
    passes are done, the DDP all-reduce too (under FSDP each process holds its shard), and under
    AMP the loss scale is divided out (a float16 step the scaler then skips shows its inf/NaN
    gradients here). Clipping (``clip_grad``) and ``optimizer.step()`` follow, in that order, so the
    gradients are the ones before clipping. ``runner.iter`` is the iteration that steps (not yet
    incremented). May change the gradients in place (the optimizer then steps with them); must not
    step or zero the optimizer. Fired by the optim wrapper itself, only when some hook implements
    this point: a run without one pays nothing, and ``customrun_core.testing`` records the calls
    only then.
    """


@hookspec
def after_train_iter(runner: RunnerView, batch_idx: int, data_batch: Any, outputs: dict) -> None:
    """Fires after each training step; ``outputs`` is the dict ``train_step`` returned (log values).

    ``runner.iter`` is not yet incremented. Hooks at NORMAL priority see the learning rate the step
    used: ``ParamSchedulerHook`` (LOW) steps iteration-based schedulers after them.
    """


@hookspec
def after_log_record(runner: RunnerView, record: Mapping[str, Any]) -> None:
    """Fires after ``LoggerHook`` appended a record to ``scalars.jsonl``: once per record, on rank 0
    only, inside the ``after_train_iter`` of each logged iteration and the ``after_val_epoch`` /
    ``after_test_epoch`` of each evaluation.

    ``record`` is what the line holds: ``mode`` (``"train"``, ``"val"`` or ``"test"``), ``step``
    (finished training iterations), ``epoch``, then the logged values by name (floats: the means
    over the logging window, the latest lr, or the metrics), non-finite values as they are (the file
    has ``null``). Tracking back-ends (TensorBoard, MLflow, W&B) implement this point to log exactly
    what the run logs, at the same steps. Must not change ``record``: every implementation gets the
    same object.
    """


@hookspec
def before_val(runner: RunnerView) -> None:
    """Fires when a validation run starts (after a training epoch, or from ``runner.val()``)."""


@hookspec
def after_val(runner: RunnerView) -> None:
    """Fires when a validation run ends, after ``after_val_epoch``."""


@hookspec
def before_val_epoch(runner: RunnerView) -> None:
    """Fires before the first validation batch; the model is put in eval mode just after (as MMEngine)."""


@hookspec
def after_val_epoch(runner: RunnerView, metrics: dict) -> None:
    """Fires with the validation metrics (name -> float), e.g. ``{"accuracy/top1": 97.2}``.

    Hooks may add entries to ``metrics``; ``LoggerHook`` writes them to ``scalars.jsonl`` and
    ``ParamSchedulerHook`` (LOW, so after NORMAL hooks have added theirs) steps the schedulers
    driven by metrics (``ReduceOnPlateauLR``).
    """


@hookspec
def before_val_iter(runner: RunnerView, batch_idx: int, data_batch: Any) -> None:
    """Fires before each validation batch (batch on the run's device, gradients off)."""


@hookspec
def after_val_iter(runner: RunnerView, batch_idx: int, data_batch: Any, outputs: Any) -> None:
    """Fires after each validation batch with what ``val_step`` returned."""


@hookspec
def before_test(runner: RunnerView) -> None:
    """Fires when a test run (``customrun test``, ``runner.test()``) starts, after ``before_run``."""


@hookspec
def after_test(runner: RunnerView) -> None:
    """Fires when a test run ends, after ``after_test_epoch``."""


@hookspec
def before_test_epoch(runner: RunnerView) -> None:
    """Fires before the first test batch; the model is put in eval mode just after (as MMEngine)."""


@hookspec
def after_test_epoch(runner: RunnerView, metrics: dict) -> None:
    """Fires with the test metrics (name -> float); hooks may add entries."""


@hookspec
def before_test_iter(runner: RunnerView, batch_idx: int, data_batch: Any) -> None:
    """Fires before each test batch (batch on the run's device, gradients off)."""


@hookspec
def after_test_iter(runner: RunnerView, batch_idx: int, data_batch: Any, outputs: Any) -> None:
    """Fires after each test batch with what ``test_step`` returned."""


@hookspec
def before_save_checkpoint(runner: RunnerView, checkpoint: dict) -> None:
    """Fires just before a checkpoint is written; hooks may add keys of their own to ``checkpoint``.

    Values must be tensors or plain Python data (checkpoints load with ``weights_only=True``).
    """


@hookspec
def after_run(runner: RunnerView) -> None:
    """Fires once, last, also after a failed run; the work directory is complete."""
