"""A run's state into and out of checkpoints: what a checkpoint holds, saving, loading and resuming.

The file format (atomic writes, weights-only reads) is :mod:`customrun_core.checkpoint`; a model
sharded with FSDP goes through :mod:`customrun_core.sharded_checkpoint`. A checkpoint holds
``meta`` (epoch, iteration, seed, the resolved config, the random states), ``state_dict``,
``optimizer`` (the optim wrapper's state, loss scaler included) and ``param_schedulers``, plus what
hooks add in ``before_save_checkpoint``.

The functions take the :class:`~customrun_core.runner.Runner` whose state they save or restore;
``Runner.save_checkpoint`` / ``Runner.load_checkpoint`` call them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customrun_core import checkpoint as ckpt
from customrun_core import parallel
from customrun_core.errors import ConfigError, located
from customrun_core.models.wrappers import unwrap_model
from customrun_core.randomness import rng_state, set_rng_state
from customrun_core.schedulers.stepping import iter_schedulers

if TYPE_CHECKING:
    from customrun_core.runner import Runner

__all__ = ["load", "load_or_resume", "save"]


def save(
    runner: Runner,
    filename: str,
    epoch: int,
    iteration: int,
    directory: Path | None = None,
    mark_last: bool = True,
) -> Path | None:
    """Write ``directory/filename`` (default: the work directory) atomically and, with
    ``mark_last``, point ``work_dir/last_checkpoint`` at it (a relative name inside the work
    directory, else the whole path) and record it as the runner's ``last_saved``.

    Rank 0 writes it; a model sharded with FSDP is saved by every process into the directory
    ``filename`` with the suffix ``.dcp``. Returns the path on rank 0, else None.
    """
    sharded = parallel.is_sharded(runner.model)
    if runner.rank != 0 and not sharded:
        return None
    if sharded:
        from customrun_core import sharded_checkpoint

        state_dict, optimizer = sharded_checkpoint.state(runner.model, runner.optim_wrapper.optimizer)
        optimizer = {**runner.optim_wrapper.state_dict(), **optimizer}
        filename = Path(filename).with_suffix(ckpt.SHARDED_SUFFIX).name
    else:
        state_dict, optimizer = unwrap_model(runner.model).state_dict(), runner.optim_wrapper.state_dict()
    checkpoint: dict[str, Any] = {
        "meta": {
            "epoch": epoch,
            "iter": iteration,
            "seed": runner.seed,
            "config": runner.config_toml,
            "rng": rng_state(),
        },
        "state_dict": state_dict,
        "optimizer": optimizer,
        "param_schedulers": [s.state_dict() for s in iter_schedulers(runner.param_schedulers)],
    }
    runner.call_hook("before_save_checkpoint", checkpoint=checkpoint)
    directory = runner.work_dir if directory is None else directory
    path = directory / filename
    if sharded:
        sharded_checkpoint.save(checkpoint, path, runner.rank)
    else:
        ckpt.save_atomic(checkpoint, path)
    if runner.rank != 0:
        return None
    if mark_last:
        named = filename if directory == runner.work_dir else str(path.absolute())
        ckpt.write_text_atomic(runner.work_dir / ckpt.LAST_CHECKPOINT, named)
        runner.last_saved = (filename, iteration)
    runner.logger.info(f"saved checkpoint {path}")
    return path


def load(runner: Runner, path: str | os.PathLike[str], weights_only: bool = False) -> dict[str, Any]:
    """Load a checkpoint into ``runner``: the weights, and unless ``weights_only`` the optimizer,
    the schedulers, the loop position and the random states (resume). ``after_load_checkpoint``
    fires before anything is applied, as MMEngine's."""
    key = "load_from" if weights_only else "resume"
    with located(runner.cfg.source):
        checkpoint = ckpt.load(path, key)
    optimizer = None if weights_only else runner.optim_wrapper
    sharded = parallel.is_sharded(runner.model)
    if "sharded" in checkpoint:
        from customrun_core import sharded_checkpoint

        inner = None if optimizer is None else optimizer.optimizer
        with located(runner.cfg.source):
            sharded_checkpoint.load(checkpoint, unwrap_model(runner.model), inner, key)
        optimizer_state = {**checkpoint["optimizer"], **inner.state_dict()} if inner is not None else None
    elif sharded and not weights_only:
        raise ConfigError(
            f"{path} is a single-file checkpoint; a model sharded with FSDP resumes from a .dcp directory",
            file=runner.cfg.source,
            key=key,
        )
    else:
        optimizer_state = checkpoint.get("optimizer")
    runner.call_hook("after_load_checkpoint", checkpoint=checkpoint)  # before applying, as MMEngine
    if "sharded" in checkpoint:
        pass  # its tensors are in place already
    elif sharded:  # load_from a single file: each process takes its shard
        from customrun_core import sharded_checkpoint

        sharded_checkpoint.load_full_weights(runner.model, checkpoint["state_dict"])
    else:
        unwrap_model(runner.model).load_state_dict(checkpoint["state_dict"])
    if optimizer is not None:
        _restore_training(runner, checkpoint, optimizer, optimizer_state)
    runner.logger.info(f"loaded checkpoint {path}" + (" (weights only)" if weights_only else " (resumed)"))
    return checkpoint


def _restore_training(
    runner: Runner, checkpoint: dict[str, Any], optimizer: Any, optimizer_state: Any
) -> None:
    """The optimizer, the schedulers, the loop position and the random states of a checkpoint."""
    optimizer.load_state_dict(optimizer_state)
    schedulers = iter_schedulers(runner.param_schedulers)
    for scheduler, state in zip(schedulers, checkpoint["param_schedulers"], strict=False):
        scheduler.load_state_dict(state)
    meta = checkpoint["meta"]
    runner.train_loop.epoch, runner.train_loop.iter = meta["epoch"], meta["iter"]
    if "rng" in meta:
        set_rng_state(meta["rng"])


def load_or_resume(runner: Runner) -> None:
    """What a run loads before training: ``resume`` (a checkpoint, or with ``true`` the work
    directory's newest that loads), else ``load_from``'s weights. What killed saves left behind
    is removed first."""
    if runner.rank == 0:
        for path in ckpt.remove_unfinished(runner.work_dir):
            runner.logger.info(f"removed {path}, left by a save that did not finish")
    resume = runner.cfg.resume
    if isinstance(resume, str):
        load(runner, resume)
    elif resume:
        _resume_newest(runner)
    elif runner.cfg.load_from:
        load(runner, runner.cfg.load_from, weights_only=True)


def _resume_newest(runner: Runner) -> None:
    """Resume from the newest checkpoint of the work directory that loads; a damaged or missing
    one is passed over with a warning naming it."""
    candidates = ckpt.resume_candidates(runner.work_dir)
    if not candidates:
        runner.logger.warning(f"resume = true but {runner.work_dir} has no checkpoint: training from scratch")
        return
    refused = []
    for path in candidates:
        try:
            load(runner, path)
            return
        except ConfigError as error:
            refused.append(str(path))
            runner.logger.warning(f"cannot resume from it: {error.message}; trying the previous checkpoint")
    raise ConfigError(
        f"no checkpoint of {runner.work_dir} loads (tried {', '.join(refused)}): remove them or pass --resume PATH",
        file=runner.cfg.source,
        key="resume",
    )
