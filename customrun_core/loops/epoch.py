"""Training for a number of epochs, validating every ``val_interval`` epochs."""

from __future__ import annotations

from typing import Any

from customrun_core.errors import ConfigError
from customrun_core.loops.training import TrainLoop


class EpochBasedTrainLoop(TrainLoop):
    """``max_epochs`` passes over the training data (MMEngine's loop of that name).

    ``runner.epoch`` counts finished epochs (incremented after ``after_train_epoch``), ``runner.iter``
    finished iterations; the last epoch is always validated. A run resumed from a checkpoint
    taken inside an epoch goes on with that epoch's remaining batches.
    """

    by_epoch = True

    def __init__(
        self, runner: Any, dataloader: Any, max_epochs: int, val_begin: int = 1, val_interval: int = 1
    ) -> None:
        if max_epochs < 1:
            raise ConfigError(f"expected an integer >= 1, got {max_epochs}", key="max_epochs")
        super().__init__(runner, dataloader, val_begin, val_interval)
        self.max_epochs = max_epochs
        self.max_iters = max_epochs * len(dataloader)

    def run(self) -> Any:
        runner = self.runner
        runner.call_hook("before_train")
        while self.epoch < self.max_epochs and not self.stop_training:
            self.run_epoch()
            if self.interrupted:
                break
            if self.should_validate(self.epoch, self.max_epochs) and self.validate():
                break  # a stop signal arrived by the end of the validation
        self.finish()
        runner.call_hook("after_train")
        return runner.model

    def run_epoch(self) -> None:
        runner = self.runner
        runner.call_hook("before_train_epoch")
        runner.model.train()
        done = self.iter - self.epoch * len(self.dataloader)  # > 0 when resumed inside this epoch
        self.skip_batches(done)
        for batch_idx, data_batch in enumerate(self.dataloader, start=done):
            self.run_iter(batch_idx, data_batch)
            if self.interrupted:
                return  # the epoch is not over: a resumed run finishes it
        runner.call_hook("after_train_epoch")
        self.epoch += 1
