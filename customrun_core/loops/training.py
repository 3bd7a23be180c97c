"""The train-loop contract (:class:`TrainLoop`): what the runner, the hooks and the progress bar read
of a train loop, one training step, and MMEngine's validation rule."""

from __future__ import annotations

from typing import Any

from customrun_core.batch import to_device
from customrun_core.errors import ConfigError
from customrun_core.loops.base import BaseLoop


class TrainLoop(BaseLoop):
    """The base of every ``train_cfg`` loop: the run's checks refuse a train loop that does not
    subclass it. It keeps the training position and answers what the runner and hooks ask.

    Attributes:
        runner: the run (``runner.call_hook``, ``runner.model``, ``runner.optim_wrapper``, ...).
        dataloader: the training data (``len()`` is the epoch length).
        epoch: finished epochs (``runner.epoch``); a resumed run starts from the checkpoint's.
        iter: finished iterations (``runner.iter``).
        max_epochs: the run's epochs (1 for an iteration-based loop: its one epoch is the run).
        max_iters: the run's iterations.
        by_epoch: whether epochs are the unit (logging and checkpoints count in it); a class attribute.
        interrupted: set when a stop signal ended training after an iteration (with a checkpoint).
        stop_training: a hook sets it to stop at the end of the current epoch (MMEngine's name);
            the loop then saves a checkpoint (:meth:`save_if_stopped`) before ``after_train``.
        should_validate(done, total): whether a validation follows ``done`` of ``total`` epochs
            (iterations); :meth:`validate` runs it, :meth:`finish` ends training.

    A subclass sets ``max_epochs`` and ``max_iters`` in ``__init__`` and implements ``run()``,
    calling :meth:`run_iter` for each batch (it fires the iteration's hooks, counts ``iter`` and
    stops on a signal).
    """

    by_epoch = True

    def __init__(self, runner: Any, dataloader: Any, val_begin: int, val_interval: int) -> None:
        super().__init__(runner, dataloader)
        if val_interval < 1:
            raise ConfigError(f"expected an integer >= 1, got {val_interval}", key="val_interval")
        self.val_begin, self.val_interval = val_begin, val_interval
        self.epoch = 0
        self.iter = 0
        self.stop_training = False  # a hook's request: stop at the end of this epoch (MMEngine's)
        self.interrupted = False  # a signal's: stop after this iteration, with a checkpoint

    max_epochs: int
    max_iters: int

    def run_iter(self, batch_idx: int, data_batch: Any) -> None:
        """before_train_iter -> model.train_step -> after_train_iter, then ``iter += 1``."""
        runner = self.runner
        data_batch = to_device(data_batch, runner.device)
        runner.call_hook("before_train_iter", batch_idx=batch_idx, data_batch=data_batch)
        outputs = runner.model.train_step(data_batch, runner.optim_wrapper)
        runner.call_hook("after_train_iter", batch_idx=batch_idx, data_batch=data_batch, outputs=outputs)
        self.iter += 1
        if runner.stop_requested():
            name = f"iter_{self.iter}.pt"
            if runner.last_saved != (name, self.iter):  # a hook did not save it just now
                runner.save_checkpoint(name, epoch=self.epoch, iteration=self.iter)
            self.interrupted = True

    def validate(self) -> bool:
        """Run the validation, after the losses whose check waited (see :meth:`check_losses`), and
        say whether a stop signal ends training here (:meth:`stop_after_validation`)."""
        self.check_losses()
        self.runner.val_loop.run()
        return self.stop_after_validation()

    def finish(self) -> None:
        """The end of training, before ``after_train``: the losses whose check waited are checked
        and a run a hook stopped is saved (:meth:`save_if_stopped`)."""
        self.check_losses()
        self.save_if_stopped()

    def check_losses(self) -> None:
        """Check now the losses an optim wrapper checks in batches on an accelerator
        (``OptimWrapper.check_losses``), so that neither a validation nor the end of training
        passes over a non-finite loss that ``on_nonfinite = "error"`` must stop."""
        from customrun_core.assembly import optim_members

        for member in optim_members(self.runner.optim_wrapper).values():
            check = getattr(member, "check_losses", None)
            if check is not None:
                check()

    def stop_after_validation(self) -> bool:
        """Whether a stop signal arrived by the end of a validation (the final one included): it
        ends training here, with this position saved after the validation (which finishes, so its
        metrics and the hooks' state in the checkpoint include it), as :meth:`run_iter` would.
        Under torchrun the processes agree on it now (a validation ends on all of them alike)."""
        if self.interrupted or not self.runner.stop_requested(agree=True):
            return False
        name = f"epoch_{self.epoch}.pt" if self.by_epoch else f"iter_{self.iter}.pt"
        self.runner.save_checkpoint(name, epoch=self.epoch, iteration=self.iter)
        self.interrupted = True
        return True

    def save_if_stopped(self) -> None:
        """A hook's ``stop_training`` ended the run before its last iteration: save its final state
        (after the validation that decided it, so the hooks' counters in it include that one)."""
        if self.stop_training and not self.interrupted and self.iter < self.max_iters:
            name = f"epoch_{self.epoch}.pt" if self.by_epoch else f"iter_{self.iter}.pt"
            self.runner.save_checkpoint(name, epoch=self.epoch, iteration=self.iter)

    def skip_batches(self, count: int) -> None:
        """Start the train dataloader's next pass ``count`` batches in (resuming inside a pass)."""
        skip = getattr(getattr(self.dataloader, "sampler", None), "skip_batches", None)
        if count and skip is not None:
            skip(count)

    def should_validate(self, done: int, total: int) -> bool:
        """MMEngine's rule, on the count of finished epochs (or iterations): from ``val_begin``,
        every ``val_interval``, and always at the end."""
        if self.runner.val_loop is None or done < self.val_begin:
            return False
        return done % self.val_interval == 0 or done == total
