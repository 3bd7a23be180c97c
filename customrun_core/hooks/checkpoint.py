"""CheckpointHook: saves every ``interval`` epochs or iterations, and at the end of training."""

from __future__ import annotations

from typing import Any

from customrun_core import checkpoint
from customrun_core.errors import ConfigError
from customrun_core.hooks.base import Hook, Priority


class CheckpointHook(Hook):
    """Writes ``epoch_N.pt`` (or ``iter_N.pt`` with ``by_epoch = false``) through the runner.

    Args:
        interval: save every this many epochs (iterations); ``-1`` saves only the last.
        by_epoch: count epochs (in ``after_train_epoch``) or iterations (in ``after_train_iter``).
        max_keep_ckpts: keep only the newest N checkpoints this run wrote; ``-1`` keeps all.
        save_last: also save at the end of training when the last count is not a multiple of interval.
    """

    priority = Priority.VERY_LOW

    def __init__(
        self, interval: int = 1, by_epoch: bool = True, max_keep_ckpts: int = -1, save_last: bool = True
    ) -> None:
        if interval == 0 or interval < -1:
            raise ConfigError(f"expected an integer >= 1 or -1, got {interval}", key="interval")
        self.interval, self.by_epoch = interval, by_epoch
        self.max_keep_ckpts, self.save_last = max_keep_ckpts, save_last
        self._saved: list[str] = []

    def after_train_epoch(self, runner: Any) -> None:
        if not self.by_epoch:
            return
        if self.every_n_epochs(runner, self.interval) or (
            self.save_last and self.is_last_train_epoch(runner)
        ):
            self._save(runner, f"epoch_{runner.epoch + 1}.pt", epoch=runner.epoch + 1, iteration=runner.iter)

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if self.by_epoch:
            return
        if self.every_n_train_iters(runner, self.interval) or (
            self.save_last and self.is_last_train_iter(runner)
        ):
            self._save(runner, f"iter_{runner.iter + 1}.pt", epoch=runner.epoch, iteration=runner.iter + 1)

    def _save(self, runner: Any, filename: str, epoch: int, iteration: int) -> None:
        path = runner.save_checkpoint(filename, epoch=epoch, iteration=iteration)
        if path is None:  # not rank 0
            return
        self._saved.append(str(path))
        while self.max_keep_ckpts > 0 and len(self._saved) > self.max_keep_ckpts:
            checkpoint.remove(self._saved.pop(0))
