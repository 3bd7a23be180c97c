"""WandbLoggerHook: what the LoggerHook logs, also in a Weights & Biases run.

The arguments are those of MMEngine's ``WandbVisBackend`` (``init_kwargs``, ``define_metric_cfg``,
``commit``, ``log_code_name``, ``watch_kwargs``); the values come through ``after_log_record``,
as the core's TensorBoardLoggerHook gets them.
"""

from __future__ import annotations

import difflib
import importlib.util
import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from customrun_core import Hook, Priority, unwrap_model
from customrun_core.errors import ConfigError
from customrun_core.scalars import RECORD_KEYS

if TYPE_CHECKING:
    from customrun_core import RunnerView

__all__ = ["CHECKPOINT_KEY", "INSTALL_HINT", "STEP_METRIC", "WandbLoggerHook"]

INSTALL_HINT = "pip install wandb"
CHECKPOINT_KEY = "wandb"  # hook state in a checkpoint: {"run_id": ...}
STEP_METRIC = "step"  # every row's x-axis: the record's step (finished training iterations)
MODES = ("train", "val", "test")
# What the CheckpointHook leaves: its best checkpoints in each checkpoint (save_best), and in the work
# directory the newest checkpoint's name and the best ones' paths (what `customrun test --checkpoint best` reads).
BEST_KEY = "best_checkpoints"
LAST_CHECKPOINT = "last_checkpoint"
BEST_MARKER = "best_checkpoints.json"
# wandb.init arguments the hook sets itself: the resolved config, and continuing a resumed run.
OWN_INIT_ARGS = ("config", "id", "resume", "resume_from", "fork_from")


class WandbLoggerHook(Hook):
    """Logs every record the LoggerHook writes to ``scalars.jsonl`` in a W&B run, and the resolved
    config as the run's config.

    Each record becomes one W&B row: ``<mode>/<name>`` for each value (``train/loss``,
    ``train/lr``, ``val/accuracy/top1``), with ``step`` (the record's step, the x-axis of every
    chart) and ``epoch``. W&B's own ``_step`` only counts rows: a resumed run logs again the steps
    after its checkpoint, and W&B drops a row whose ``_step`` goes back, never one whose ``step``
    does. Non-finite values are logged as they are.

    Only rank 0 logs (the hook is not registered elsewhere). The run starts when training starts
    (after a resumed checkpoint was read), or with the first record of a run that does not train;
    its files go to ``init_kwargs.dir`` (relative paths are inside the work directory), else
    ``WANDB_DIR``, else the work directory (W&B adds ``wandb/``). The run's id is hook state:
    checkpoints keep it, and a resumed run continues that W&B run (``resume="allow"``); loading
    weights (``load_from``) starts a new one. When the run ends, after an error too, a run that
    saved checkpoints gets the summary entries ``last_checkpoint`` (its path) and
    ``best_checkpoint`` (metric -> path, with the CheckpointHook's ``save_best``), and the W&B run
    is finished: exit code 0 when a loop ended (a graceful stop included), 1 after an error.

    Args:
        init_kwargs: keyword arguments of ``wandb.init`` (``project``, ``name``, ``entity``,
            ``tags``, ``group``, ``mode``, ``dir``, ...); not ``config``, ``id`` or ``resume``,
            which the hook sets.
        define_metric_cfg: ``wandb.define_metric`` calls after the hook's own: a table of
            ``name = summary`` (``{"val/accuracy/top1" = "max"}``) or an array of tables of its
            keyword arguments (``[{name = "val/*", summary = "max"}]``).
        commit: MMEngine's flag; only ``true``: one row per record.
        log_code_name: when set, the working directory's code (what ``Run.log_code`` takes: ``*.py``,
            ``requirements.txt``, ``Dockerfile``; not the W&B directory) is saved as a code
            artifact of this name.
        watch_kwargs: when set, ``wandb.watch`` on the model with these keyword arguments
            (``log = "gradients"``, ``log_freq = 100``) when training starts.

    Raises:
        ConfigError: wandb not installed, or a wrong argument (when the hook is built).
    """

    # Last, so that in before_save_checkpoint it sees the best checkpoints CheckpointHook (VERY_LOW) records.
    priority = Priority.LOWEST

    def __init__(
        self,
        init_kwargs: Mapping[str, Any] | None = None,
        define_metric_cfg: Mapping[str, str] | list[Mapping[str, Any]] | None = None,
        commit: bool = True,
        log_code_name: str | None = None,
        watch_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if importlib.util.find_spec("wandb") is None:
            raise ConfigError(f"WandbLoggerHook needs wandb, which is not installed: {INSTALL_HINT}")
        if commit is not True:
            raise ConfigError(
                f"expected true (customrun logs one W&B row per record), got {commit!r}", key="commit"
            )
        self.init_kwargs = _checked_init_kwargs(init_kwargs or {})
        self.define_metric_cfg = _checked_metrics(define_metric_cfg)
        self.log_code_name, self.watch_kwargs = log_code_name, dict(watch_kwargs or {})
        self._run: Any = None  # the wandb Run, on rank 0 while a run lasts
        self._work_dir: Path | None = None
        self._run_id: str | None = None  # of the W&B run to continue (from a checkpoint) or logged to
        self._best: list[str] = []  # the metrics whose best checkpoint the last checkpoint records
        self._ended = False  # a loop ended (else after_run follows an error)
        self._saved = False  # this run wrote a checkpoint

    def wanted(self, rank: int) -> bool:
        """Only rank 0 logs: elsewhere the hook is not registered and costs nothing."""
        return rank == 0

    def before_run(self, runner: RunnerView) -> None:
        self._work_dir, self._run_id, self._best = Path(runner.work_dir), None, []
        self._ended = self._saved = False

    def after_load_checkpoint(self, runner: RunnerView, checkpoint: dict) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        self._run_id = state.get("run_id") if isinstance(state, dict) else None
        self._best = _best_metrics(checkpoint)

    def before_train(self, runner: RunnerView) -> None:
        # Only a resumed run (its loop position restored) continues the checkpoint's W&B run.
        self._start(runner, resume=runner.iter > 0 and self._run_id is not None)
        if self.watch_kwargs and self._run is not None:
            self._run.watch(unwrap_model(runner.model), **self.watch_kwargs)

    def after_log_record(self, runner: RunnerView, record: Mapping[str, Any]) -> None:
        """Log one LoggerHook record (``mode``, ``step``, ``epoch``, values) as one W&B row."""
        if self._run is None:
            self._start(runner, resume=False)
        mode = record["mode"]
        row = {f"{mode}/{name}": value for name, value in record.items() if name not in RECORD_KEYS}
        self._run.log({STEP_METRIC: record["step"], "epoch": record["epoch"], **row})

    def before_save_checkpoint(self, runner: RunnerView, checkpoint: dict) -> None:
        if self._run is not None:
            checkpoint[CHECKPOINT_KEY] = {"run_id": self._run.id}
        self._best = _best_metrics(checkpoint) or self._best
        self._saved = True

    def after_train(self, runner: RunnerView) -> None:
        self._ended = True

    def after_val(self, runner: RunnerView) -> None:
        self._ended = True

    def after_test(self, runner: RunnerView) -> None:
        self._ended = True

    def after_run(self, runner: RunnerView) -> None:
        """Record where the checkpoints are, and finish the W&B run (failed after an error)."""
        run, self._run = self._run, None
        if run is None:
            return
        try:
            assert self._work_dir is not None
            paths = _checkpoint_paths(self._work_dir, self._best) if self._saved else {}
            run.summary.update(paths)
        finally:
            run.finish(exit_code=0 if self._ended else 1)

    def _start(self, runner: RunnerView, resume: bool) -> None:
        """``wandb.init`` with the resolved config (a resumed run: the checkpoint's run id)."""
        import wandb

        kwargs = dict(self.init_kwargs)
        assert self._work_dir is not None  # set in before_run
        # Always passed, and absolute: wandb reads WANDB_DIR and resolves paths once per process.
        directory = self._work_dir / kwargs.get("dir", os.environ.get("WANDB_DIR") or ".")
        directory.mkdir(parents=True, exist_ok=True)
        kwargs["dir"] = str(directory.resolve())
        if resume:
            kwargs.update(id=self._run_id, resume="allow")
        self._run = wandb.init(config=runner.cfg.to_dict(), **kwargs)
        self._run_id = self._run.id
        self._run.define_metric(STEP_METRIC)
        for mode in MODES:
            self._run.define_metric(f"{mode}/*", step_metric=STEP_METRIC)
        for metric in self.define_metric_cfg:
            self._run.define_metric(**metric)
            if not metric["name"].startswith((*(f"{mode}/" for mode in MODES), STEP_METRIC, "epoch")):
                runner.logger.warning(
                    f"WandbLoggerHook: define_metric_cfg names {metric['name']!r}, which no row holds:"
                    f" customrun logs '<mode>/<name>' (e.g. 'val/{metric['name']}')"
                )
        if self.log_code_name is not None:
            own = Path(kwargs["dir"]) / "wandb"  # W&B's files, wherever dir puts them

            def exclude(path: str, root: str) -> bool:
                return Path(path).resolve().is_relative_to(own) or _in_wandb_dirs(path, root)

            self._run.log_code(root=".", name=self.log_code_name, exclude_fn=exclude)


def _in_wandb_dirs(path: str, root: str) -> bool:
    """wandb's own exclusion: files under ``ROOT/wandb`` and ``ROOT/.wandb``."""
    return os.path.relpath(path, root).startswith((f"wandb{os.sep}", f".wandb{os.sep}"))


def _checked_init_kwargs(init_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``init_kwargs`` when each key is an argument of ``wandb.init`` that the hook does not set."""
    import wandb

    accepted = [name for name in inspect.signature(wandb.init).parameters if name not in OWN_INIT_ARGS]
    for name in init_kwargs:
        if name in OWN_INIT_ARGS:
            raise ConfigError(
                f"the hook sets wandb.init's {name!r} itself (the resolved config; the run id, kept in"
                " checkpoints, so that a resumed run continues its W&B run): remove it",
                key=f"init_kwargs.{name}",
            )
        if name not in accepted:
            raise ConfigError(
                f"expected an argument of wandb.init, got {name!r}",
                key=f"init_kwargs.{name}",
                suggestions=difflib.get_close_matches(name, accepted, n=1),
            )
    return dict(init_kwargs)


def _checked_metrics(cfg: Mapping[str, str] | list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """``define_metric_cfg`` as keyword arguments of ``Run.define_metric``, one dict per call."""
    if cfg is None:
        return []
    if isinstance(cfg, Mapping):  # MMEngine's short form: metric name -> summary
        metrics = [{"name": name, "summary": summary} for name, summary in cfg.items()]
    else:
        metrics = [dict(metric) for metric in cfg]
    for i, metric in enumerate(metrics):
        if not isinstance(metric.get("name"), str):
            raise ConfigError(f"expected a table with a name, got {metric!r}", key=f"define_metric_cfg[{i}]")
        if metric.get("step_metric") == "iter":  # MMEngine's configs name its x-axis 'iter'
            raise ConfigError(
                f"expected {STEP_METRIC!r} or 'epoch' (customrun's x-axes), got 'iter'",
                key=f"define_metric_cfg[{i}].step_metric",
                suggestions=[STEP_METRIC],
            )
    return metrics


def _best_metrics(checkpoint: Mapping[str, Any]) -> list[str]:
    """The metrics whose best checkpoint a checkpoint records (CheckpointHook's ``save_best``)."""
    bests = checkpoint.get(BEST_KEY)
    return list(bests) if isinstance(bests, Mapping) else []


def _checkpoint_paths(work_dir: Path, best: list[str]) -> dict[str, Any]:
    """The summary's ``last_checkpoint`` (a path) and ``best_checkpoint`` (metric -> path), read from
    the work directory's ``last_checkpoint`` and ``best_checkpoints.json`` after this run saved a
    checkpoint; of the marker, only the metrics in ``best``: an earlier run may have left it."""
    paths: dict[str, Any] = {}
    last = work_dir / LAST_CHECKPOINT
    if last.is_file():
        paths["last_checkpoint"] = str((work_dir / last.read_text(encoding="utf-8").strip()).resolve())
    marker = work_dir / BEST_MARKER
    if best and marker.is_file():
        entries = json.loads(marker.read_text(encoding="utf-8"))
        found = {m: str((work_dir / entries[m]["path"]).resolve()) for m in best if m in entries}
        if found:
            paths["best_checkpoint"] = found
    return paths
