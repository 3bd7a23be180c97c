"""DistSamplerSeedHook: a new shuffle order each epoch for samplers that take an epoch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from customrun_core.hooks.base import Hook, Priority

if TYPE_CHECKING:
    from customrun_core.hooks.runner_view import RunnerView


class DistSamplerSeedHook(Hook):
    """Calls ``sampler.set_epoch(runner.epoch)`` before each training epoch, when the train
    dataloader's sampler (or batch sampler's sampler) has that method (DistributedSampler)."""

    priority = Priority.NORMAL

    def before_train_epoch(self, runner: RunnerView) -> None:
        assert runner.train_loop is not None  # set while training
        loader = runner.train_loop.dataloader
        for sampler in (
            getattr(loader, "sampler", None),
            getattr(getattr(loader, "batch_sampler", None), "sampler", None),
        ):
            set_epoch = getattr(sampler, "set_epoch", None)
            if set_epoch is not None:
                set_epoch(runner.epoch)
                return
