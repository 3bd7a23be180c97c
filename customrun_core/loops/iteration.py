"""Training for a number of iterations, cycling through the data, validating every ``val_interval``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from customrun_core.errors import ConfigError
from customrun_core.loops.training import TrainLoop


def _cycle(loop: TrainLoop) -> Iterator[Any]:
    """Batches forever from ``loop.iter`` on: each exhausted pass starts a new one with the
    sampler's next epoch; a resumed run starts inside the pass it stopped in."""
    dataloader = loop.dataloader
    set_epoch = getattr(getattr(dataloader, "sampler", None), "set_epoch", None)
    epoch, done = divmod(loop.iter, len(dataloader))
    while True:
        if set_epoch is not None:
            set_epoch(epoch)
        loop.skip_batches(done)
        done = 0
        yield from dataloader
        epoch += 1


class IterBasedTrainLoop(TrainLoop):
    """``max_iters`` training iterations (MMEngine's loop of that name).

    There is one epoch: ``before_train_epoch`` fires before the first iteration and
    ``after_train_epoch`` after the last; ``batch_idx`` is the global iteration.
    """

    by_epoch = False

    def __init__(
        self, runner: Any, dataloader: Any, max_iters: int, val_begin: int = 1, val_interval: int = 1000
    ) -> None:
        if max_iters < 1:
            raise ConfigError(f"expected an integer >= 1, got {max_iters}", key="max_iters")
        super().__init__(runner, dataloader, val_begin, val_interval)
        self.max_iters = max_iters
        self.max_epochs = 1

    def run(self) -> Any:
        runner = self.runner
        runner.call_hook("before_train")
        runner.call_hook("before_train_epoch")
        batches = _cycle(self)
        while self.iter < self.max_iters and not self.stop_training:
            runner.model.train()
            self.run_iter(self.iter, next(batches))
            if self.interrupted:
                break
            if self.should_validate(self.iter, self.max_iters) and self.validate():
                break  # a stop signal arrived by the end of the validation
        if not self.interrupted:
            runner.call_hook("after_train_epoch")
        self.finish()
        runner.call_hook("after_train")
        return runner.model
