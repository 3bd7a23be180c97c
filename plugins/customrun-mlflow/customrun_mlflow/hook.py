"""MLflowLoggerHook: what the LoggerHook logs, also in an MLflow run, with the config as params.

Written against customrun's public API only: :class:`customrun_core.Hook`, the hook points'
arguments and the runner attributes hooks may read. MLflow is imported when the first run starts,
so building the hook (customrun's pre-flight check) costs only a look-up.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from customrun_core import Hook, Priority
from customrun_core.errors import ConfigError, closest
from customrun_core.scalars import RECORD_KEYS

from customrun_mlflow import store
from customrun_mlflow.params import batches, flatten, mlflow_name, param_value

INSTALL_HINT = "pip install mlflow"
STATE_KEY = "mlflow"
"""The checkpoint entry holding the hook's state: ``{"run_id": ...}``, so a resumed run continues it."""

# MMEngine's MLflowVisBackend default, plus the suffixes of customrun's own files (scalars.jsonl, config.toml).
ARTIFACT_SUFFIX = (".json", ".log", ".py", "yaml", ".jsonl", ".toml")
BEST_KEY = "best_checkpoints"  # where CheckpointHook's save_best keeps its bests in a checkpoint


def _check_arguments(**arguments: Any) -> None:
    """Refuse wrong types at build time, naming the argument."""
    for key in ("exp_name", "run_name", "tracking_uri", "artifact_location"):
        value = arguments[key]
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"expected a non-empty string, got {value!r}", key=key)
    for key in ("tags", "params"):
        value = arguments[key]
        if value is not None and not isinstance(value, Mapping):
            raise ConfigError(f"expected a table of names and values, got {value!r}", key=key)
    suffix = arguments["artifact_suffix"]
    if not isinstance(suffix, str) and not (
        isinstance(suffix, Sequence) and all(isinstance(s, str) for s in suffix)
    ):
        raise ConfigError(f"expected a string or an array of strings, got {suffix!r}", key="artifact_suffix")
    keys = arguments["tracked_config_keys"]
    if keys is not None and (isinstance(keys, str) or not all(isinstance(k, str) for k in keys)):
        raise ConfigError(
            f"expected an array of top-level config keys, got {keys!r}", key="tracked_config_keys"
        )
    if not isinstance(arguments["save_dir"], str) or not arguments["save_dir"]:
        raise ConfigError(f"expected a directory, got {arguments['save_dir']!r}", key="save_dir")
    if not isinstance(arguments["log_checkpoint"], bool):
        raise ConfigError(
            f"expected true or false, got {arguments['log_checkpoint']!r}", key="log_checkpoint"
        )


class MLflowLoggerHook(Hook):
    """Logs a run to MLflow: the config as params, every LoggerHook record as metrics, files as artifacts.

    MMEngine's ``MLflowVisBackend`` as a hook. It implements ``after_log_record``, which the
    LoggerHook fires with each record it writes to ``scalars.jsonl``: each value becomes the metric
    ``<mode>/<name>`` (``train/loss``, ``val/accuracy/top1``) at the record's ``step``, so MLflow
    holds exactly the logged values at the logged steps. When training starts, the resolved config
    (``tracked_config_keys`` of it, or all of it) is logged as params by dotted key path
    (``optim_wrapper.optimizer.lr``), with ``params``, and ``config.toml`` as an artifact. When the
    run ends, the work directory's files whose names end with ``artifact_suffix`` are logged as
    artifacts, the paths of the best and the last checkpoints as the tags
    ``customrun.best_checkpoint`` and ``customrun.last_checkpoint`` (with ``log_checkpoint``, the
    file itself under ``checkpoints/``), and the run is marked FINISHED, KILLED (stopped by a
    signal) or FAILED (an error).

    Only rank 0 logs (the hook is not registered on other ranks). The run's id is kept in every
    checkpoint, so a resumed run continues the same MLflow run; a ``load_from`` or a test run starts
    a new one. A ``train()`` followed by ``test()`` of one runner logs both to one run.

    Args:
        exp_name: the experiment; created when missing. Default: ``MLFLOW_EXPERIMENT_NAME``, else
            the config file's name without ``.toml``.
        run_name: the run's name. Default: the work directory's name.
        tags: tags of the run (values made strings).
        params: more params, logged with the config's.
        tracking_uri: where runs are stored: ``sqlite:///path/mlflow.db``, ``http://host:5000``,
            ``databricks``, ... Default: ``MLFLOW_TRACKING_URI``, else the SQLite database
            ``WORK_DIR/<save_dir>/mlflow.db``.
        artifact_suffix: the work directory's files (searched recursively, ``save_dir`` left out)
            logged as artifacts when the run ends: those whose names end with one of these.
        tracked_config_keys: the top-level config keys logged as params; all of them by default.
        artifact_location: where an experiment that this hook creates keeps its artifacts. Default:
            ``artifacts`` beside a local SQLite database; the server's choice otherwise.
        save_dir: the directory, relative to the work directory, of the default store.
        log_checkpoint: also upload the best checkpoint (the last one without ``save_best``).

    Raises:
        ConfigError: when mlflow is not installed, or an argument has the wrong type (when the hook
            is built, before training); a ``tracked_config_keys`` entry the config lacks (before
            the run starts).
    """

    # Last, so that in before_save_checkpoint it sees what CheckpointHook (VERY_LOW) adds.
    priority = Priority.LOWEST

    def __init__(
        self,
        exp_name: str | None = None,
        run_name: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        tracking_uri: str | None = None,
        artifact_suffix: str | Sequence[str] = ARTIFACT_SUFFIX,
        tracked_config_keys: Sequence[str] | None = None,
        artifact_location: str | None = None,
        save_dir: str = "mlflow",
        log_checkpoint: bool = False,
    ) -> None:
        _check_arguments(**{k: v for k, v in locals().items() if k not in ("self", "__class__")})
        if importlib.util.find_spec("mlflow") is None:
            raise ConfigError(f"MLflowLoggerHook needs mlflow, which is not installed: {INSTALL_HINT}")
        self.exp_name, self.run_name, self.tracking_uri = exp_name, run_name, tracking_uri
        self.tags, self.params = dict(tags or {}), dict(params or {})
        self.artifact_suffix = (
            (artifact_suffix,) if isinstance(artifact_suffix, str) else tuple(artifact_suffix)
        )
        self.tracked_config_keys = None if tracked_config_keys is None else list(tracked_config_keys)
        self.artifact_location, self.save_dir, self.log_checkpoint = (
            artifact_location,
            save_dir,
            log_checkpoint,
        )
        self.run_id: str | None = None  # this hook's MLflow run, kept across the runs of one runner
        self._client: Any = None
        self._open = False  # the MLflow run is RUNNING for this customrun run
        self._resume_id: str | None = None  # the run of the checkpoint a resume loaded
        self._best: list[str] = []  # the save_best metrics whose best the last checkpoint records
        self._ended = "FAILED"  # the status after_run gives, unless a loop ended
        self._training = False

    def wanted(self, rank: int) -> bool:
        return rank == 0

    # -- hook points ------------------------------------------------------------------------------
    def before_run(self, runner: Any) -> None:
        config = runner.cfg.to_dict()
        for key in self.tracked_config_keys or ():
            if key not in config:
                raise ConfigError(
                    f"expected a top-level key of the config ({', '.join(config)}), got {key!r}",
                    file=runner.cfg.source,
                    key="MLflowLoggerHook.tracked_config_keys",
                    suggestions=closest(key, config),
                )
        self._resume_id, self._ended, self._training = None, "FAILED", False

    def after_load_checkpoint(self, runner: Any, checkpoint: dict[str, Any]) -> None:
        if not runner.cfg.resume:  # load_from: weights for a new run, which is a new MLflow run
            return
        state = checkpoint.get(STATE_KEY)
        self._resume_id = state.get("run_id") if isinstance(state, Mapping) else None
        self._best = _best_metrics(checkpoint)

    def before_train(self, runner: Any) -> None:
        self._training = True
        self._start(runner)

    def after_log_record(self, runner: Any, record: Mapping[str, Any]) -> None:
        """Log one LoggerHook record's values as metrics ``<mode>/<name>`` at its ``step``."""
        from mlflow.entities import Metric

        self._start(runner)
        mode, step, now = record["mode"], int(record["step"]), int(time.time() * 1000)
        metrics = [
            Metric(mlflow_name(f"{mode}/{name}"), float(value), now, step)
            for name, value in record.items()
            if name not in RECORD_KEYS
        ]
        self._client.log_batch(self.run_id, metrics=metrics)

    def before_save_checkpoint(self, runner: Any, checkpoint: dict[str, Any]) -> None:
        if self.run_id is not None:
            checkpoint[STATE_KEY] = {"run_id": self.run_id}
        self._best = _best_metrics(checkpoint) or self._best

    def after_train(self, runner: Any) -> None:
        loop = runner.train_loop
        self._ended = "KILLED" if getattr(loop, "interrupted", False) else "FINISHED"

    def after_val(self, runner: Any) -> None:
        if not self._training:  # runner.val() on its own
            self._ended = "FINISHED"

    def after_test(self, runner: Any) -> None:
        self._ended = "FINISHED"

    def after_run(self, runner: Any) -> None:
        if not self._open:
            return
        self._open = False
        try:
            self._log_end(runner)
        finally:
            self._client.set_terminated(self.run_id, status=self._ended)

    # -- the MLflow run ---------------------------------------------------------------------------
    def _start(self, runner: Any) -> None:
        """Open this hook's MLflow run, once per customrun run: the resumed one, this hook's earlier
        one (a test after training), or a new one with the config's params."""
        if self._open:
            return
        uri = (
            self.tracking_uri
            or os.environ.get("MLFLOW_TRACKING_URI")
            or store.default_uri(Path(runner.work_dir) / self.save_dir)
        )
        if self._client is None:
            self._client = store.client(uri)
        run_id = self._resume_id or self.run_id
        if run_id is not None and not store.run_exists(self._client, run_id):
            runner.logger.warning(
                f"MLflowLoggerHook: the MLflow run {run_id} is not in {uri}: logging to a new run"
            )
            run_id = None
        if run_id is None:
            self.run_id = self._create_run(runner, uri)
        else:
            self.run_id = run_id
            self._client.update_run(run_id, status="RUNNING")
            runner.logger.info(f"MLflowLoggerHook: continuing MLflow run {run_id} in {uri}")
        self._open = True
        self._log_params(runner)
        config = Path(runner.work_dir) / "config.toml"
        if config.is_file():
            self._client.log_artifact(self.run_id, str(config))

    def _create_run(self, runner: Any, uri: str) -> str:
        name = self.exp_name or os.environ.get("MLFLOW_EXPERIMENT_NAME") or _config_name(runner)
        location = self.artifact_location or store.default_artifact_location(uri)
        experiment_id = store.experiment(self._client, name, location)
        tags = {"customrun.work_dir": str(Path(runner.work_dir).resolve()), **self.tags}
        run = self._client.create_run(
            experiment_id,
            run_name=self.run_name or Path(runner.work_dir).resolve().name,
            tags={mlflow_name(str(k)): str(v) for k, v in tags.items()},
        )
        runner.logger.info(f"MLflowLoggerHook: MLflow run {run.info.run_id} in experiment {name!r} at {uri}")
        return str(run.info.run_id)

    def _log_params(self, runner: Any) -> None:
        """The config's params and ``params``; on a run that has params already (a resume), only the
        new ones: MLflow keeps a param's first value, so a changed one is named in a warning."""
        from mlflow.entities import Param

        config = runner.cfg.to_dict()
        if self.tracked_config_keys is not None:
            config = {key: config[key] for key in self.tracked_config_keys}
        wanted = {
            mlflow_name(k): param_value(v) for k, v in {**flatten(config), **flatten(self.params)}.items()
        }
        logged = self._client.get_run(self.run_id).data.params
        changed = [f"{k} ({logged[k]} -> {v})" for k, v in wanted.items() if k in logged and logged[k] != v]
        if changed:
            runner.logger.warning(
                "MLflowLoggerHook: MLflow keeps a param's first value; these changed since the run "
                f"started: {', '.join(changed)}"
            )
        new = [Param(k, v) for k, v in wanted.items() if k not in logged]
        for batch in batches(new):
            self._client.log_batch(self.run_id, params=list(batch))

    def _log_end(self, runner: Any) -> None:
        """The work directory's files as artifacts, the checkpoints' paths as tags (and files)."""
        work_dir = Path(runner.work_dir).resolve()  # tags name absolute paths
        best = store.best_checkpoints(work_dir, self._best)
        always = [work_dir / "config.toml", *([work_dir / store.BEST_MARKER] if best else [])]
        found = store.files_with_suffix(work_dir, self.artifact_suffix, skip=work_dir / self.save_dir)
        for path in dict.fromkeys([*found, *(p for p in always if p.is_file())]):
            parent = path.parent.relative_to(work_dir).as_posix()
            self._client.log_artifact(self.run_id, str(path), None if parent == "." else parent)
        last = store.last_checkpoint(work_dir)
        tags = {"customrun.last_checkpoint": last} if last is not None else {}
        if best:
            tags["customrun.best_checkpoint"] = next(iter(best.values()))  # save_best's first metric
        if len(best) > 1:
            tags.update(
                (mlflow_name(f"customrun.best_checkpoint.{metric}"), path) for metric, path in best.items()
            )
        for key, path in tags.items():
            self._client.set_tag(self.run_id, key, str(path))
        upload = next(iter(best.values()), last)
        if self.log_checkpoint and upload is not None and upload.is_file():
            self._client.log_artifact(self.run_id, str(upload), "checkpoints")


def _best_metrics(checkpoint: Mapping[str, Any]) -> list[str]:
    """The save_best metrics whose best checkpoint a checkpoint records."""
    bests = checkpoint.get(BEST_KEY)
    return list(bests) if isinstance(bests, Mapping) else []


def _config_name(runner: Any) -> str:
    """The config file's name without ``.toml``; ``customrun`` for a config given from Python."""
    source = str(runner.cfg.source)
    return Path(source).stem if source.endswith(".toml") else "customrun"
