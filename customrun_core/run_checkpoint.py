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
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customrun_core import checkpoint as ckpt
from customrun_core import parallel
from customrun_core.errors import ConfigError, describe, first_line, located
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
    # Checked after the hooks (they may convert an older layout, as MMEngine's allow) and, but for
    # the weights, before anything is applied: a checkpoint of another run is one line naming the
    # file and what does not fit, which --resume passes over as it does a damaged file.
    with located(runner.cfg.source, key):
        if optimizer is not None:
            _check_training_state(runner, checkpoint, str(path), optimizer_state, "sharded" in checkpoint)
        if "sharded" in checkpoint:
            pass  # its tensors are in place already
        elif sharded:  # load_from a single file: each process takes its shard
            from customrun_core import sharded_checkpoint

            sharded_checkpoint.load_full_weights(runner.model, checkpoint["state_dict"])
        else:
            _load_weights(unwrap_model(runner.model), checkpoint["state_dict"], str(path))
        if optimizer is not None:
            try:
                _restore_training(runner, checkpoint, optimizer, optimizer_state)
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as error:
                raise ConfigError(
                    f"{path}: cannot restore the training state: {first_line(error)}"
                ) from error
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


# -- a checkpoint of another run: what does not fit, in one line ---------------------------------
def _few(names: list[str], n: int = 3) -> str:
    """At most ``n`` names, then how many more: a key list stays one short line."""
    shown = ", ".join(names[:n])
    return shown + (f" (and {len(names) - n} more)" if len(names) > n else "")


def _load_weights(model: Any, state_dict: Any, path: str) -> None:
    """``model.load_state_dict(state_dict)`` (strict); what does not fit is one line."""
    if not isinstance(state_dict, Mapping):
        raise ConfigError(
            f"{path}: state_dict: expected parameter names and tensors, got {describe(state_dict)}"
        )
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, ValueError, KeyError) as error:
        why = _weights_mismatch(model.state_dict(), state_dict) or first_line(error)
        raise ConfigError(f"{path} does not fit this run's model ({type(model).__name__}): {why}") from error


def _weights_mismatch(expected: Mapping[str, Any], got: Mapping[str, Any]) -> str:
    """What ``load_state_dict`` reports (missing and unexpected keys, size mismatches), in one line."""
    import torch

    missing = [k for k in expected if k not in got]
    unexpected = [str(k) for k in got if k not in expected]
    common = [k for k in expected if k in got]
    not_tensors = [k for k in common if not isinstance(got[k], torch.Tensor)]
    sizes = [
        f"{k} {list(got[k].shape)} in the checkpoint, {list(expected[k].shape)} in the model"
        for k in common
        if k not in not_tensors and got[k].shape != expected[k].shape
    ]
    parts = [
        f"{label} {_few(names)}"
        for label, names in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("not tensors:", not_tensors),
            ("size mismatch for", sizes),
        )
        if names
    ]
    return "; ".join(parts)


def _check_training_state(
    runner: Runner, checkpoint: dict[str, Any], path: str, optimizer_state: Any, sharded: bool
) -> None:
    """What a resume applies besides the weights must be this run's kind: the loop position and
    random states in ``meta``, one scheduler state per scheduler, this optimizer's state."""
    meta = checkpoint.get("meta")
    if not isinstance(meta, Mapping):
        raise ConfigError(f"{path}: meta: expected a table with epoch, iter and rng, got {describe(meta)}")
    for name in ("epoch", "iter"):
        value = meta.get(name)
        if type(value) is not int or value < 0:
            raise ConfigError(f"{path}: meta.{name}: expected an integer >= 0, got {describe(value)}")
    rng = meta.get("rng")
    if rng is not None and not (isinstance(rng, Mapping) and {"python", "numpy", "torch"} <= set(rng)):
        raise ConfigError(
            f"{path}: meta.rng: expected the random states (python, numpy, torch), got {describe(rng)}"
        )
    _check_schedulers(runner, checkpoint, path)
    if optimizer_state is None:
        raise ConfigError(
            f"{path}: optimizer: missing (the optimizer's state): resume needs it; load_from takes the weights alone"
        )
    if not sharded:  # a sharded one was loaded into the optimizer already, and checked there
        why = _optimizer_mismatch(runner.optim_wrapper.state_dict(), optimizer_state, "optimizer")
        if why:
            raise ConfigError(f"{path}: {why}")


def _check_schedulers(runner: Runner, checkpoint: dict[str, Any], path: str) -> None:
    schedulers = list(iter_schedulers(runner.param_schedulers))
    states = checkpoint.get("param_schedulers", None if schedulers else [])
    if not isinstance(states, list) or len(states) != len(schedulers):
        count = f"{len(states)} states" if isinstance(states, list) else describe(states)
        raise ConfigError(
            f"{path}: param_schedulers: expected the states of this run's {len(schedulers)} schedulers, got {count}"
        )
    for i, (scheduler, state) in enumerate(zip(schedulers, states, strict=True)):
        if not isinstance(state, Mapping):
            raise ConfigError(
                f"{path}: param_schedulers[{i}]: expected a scheduler's state, got {describe(state)}"
            )
        # load_state_dict replaces the attributes (MMEngine's): another kind's would be taken silently
        public = {name for name in scheduler.state_dict() if not name.startswith("_")}
        saved = {str(name) for name in state if not str(name).startswith("_")}
        if public != saved:
            raise ConfigError(
                f"{path}: param_schedulers[{i}]: not the state of a {type(scheduler).__name__}: "
                + "; ".join(
                    f"{label} {_few(sorted(names))}"
                    for label, names in (("missing", public - saved), ("unexpected", saved - public))
                    if names
                )
            )


def _optimizer_mismatch(expected: Mapping[str, Any], got: Any, where: str) -> str | None:
    """Why ``got`` is not the state of the optimizer (or optim wrappers, by name) whose state is
    ``expected``; None when it fits. torch itself checks only the group and parameter counts."""
    if not isinstance(got, Mapping):
        return f"{where}: expected an optimizer's state, got {describe(got)}"
    if "param_groups" not in expected:  # an OptimWrapperDict: one state per member
        if set(got) != set(expected):
            return (
                f"{where}: expected the states of {_few(sorted(expected))}, got {_few(sorted(map(str, got)))}"
            )
        for name in expected:
            why = _optimizer_mismatch(expected[name], got[name], f"{where}.{name}")
            if why:
                return why
        return None
    groups = got.get("param_groups")
    if not isinstance(got.get("state"), Mapping) or not isinstance(groups, list):
        return f"{where}: expected an optimizer's state (state, param_groups), got keys {_few(sorted(map(str, got)))}"
    if len(groups) != len(expected["param_groups"]):
        return f"{where}.param_groups: expected {len(expected['param_groups'])} parameter groups, got {len(groups)}"
    for i, (mine, theirs) in enumerate(zip(expected["param_groups"], groups, strict=True)):
        if not isinstance(theirs, Mapping) or not isinstance(theirs.get("params"), list):
            return f"{where}.param_groups[{i}]: expected a parameter group, got {describe(theirs)}"
        if len(theirs["params"]) != len(mine["params"]):
            return f"{where}.param_groups[{i}]: expected {len(mine['params'])} parameters, got {len(theirs['params'])}"
        # a newer torch may add a setting (an older checkpoint lacks it: torch fills it in); a
        # setting this optimizer does not have means another optimizer saved it
        unexpected = sorted(str(name) for name in theirs if name not in mine)
        if unexpected:
            return f"{where}.param_groups[{i}]: saved by another optimizer (unexpected {_few(unexpected)})"
    return None
