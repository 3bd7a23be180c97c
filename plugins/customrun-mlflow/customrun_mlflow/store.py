"""Where MLflowLoggerHook's runs go: the tracking store, the experiment, and the work directory's files.

MLflow 3 refuses a ``file:`` tracking store unless ``MLFLOW_ALLOW_FILE_STORE=true`` is set; the
default store here is a SQLite database in the work directory, which needs no setting and no server
(mlflow-skinny with SQLAlchemy and Alembic, which this distribution depends on, suffice).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "best_checkpoints",
    "client",
    "default_artifact_location",
    "default_uri",
    "experiment",
    "files_with_suffix",
    "last_checkpoint",
    "run_exists",
]

DATABASE = "mlflow.db"
LAST_CHECKPOINT = "last_checkpoint"  # the work directory's file naming its newest checkpoint
BEST_MARKER = "best_checkpoints.json"  # its file naming the best ones (CheckpointHook's save_best)
_SQLITE = "sqlite:///"


def default_uri(directory: Path) -> str:
    """The SQLite store ``directory/mlflow.db`` (the directory is created)."""
    directory.mkdir(parents=True, exist_ok=True)
    return _SQLITE + str((directory / DATABASE).resolve())


def default_artifact_location(uri: str) -> str | None:
    """``artifacts`` beside a local SQLite database, as a ``file:`` URI; None for other stores, whose
    server decides. (MLflow's own default is ``./mlruns`` in the current directory.)"""
    if not uri.startswith(_SQLITE):
        return None
    database = Path(uri[len(_SQLITE) :]).resolve()
    return (database.parent / "artifacts").as_uri()


def client(uri: str) -> Any:
    """An ``MlflowClient`` of ``uri``. Opening a new SQLite store creates its tables: MLflow says so
    at INFO level, which would interleave with the run's first lines, so that is quietened."""
    from mlflow.tracking import MlflowClient

    quiet = [logging.getLogger(name) for name in ("mlflow.store.db.utils", "alembic.runtime.migration")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    try:
        made = MlflowClient(tracking_uri=uri)
        made.search_experiments(max_results=1)  # opens the store now, not at the first metric
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    return made


def experiment(mlflow_client: Any, name: str, artifact_location: str | None) -> str:
    """The id of the experiment ``name``, created (with ``artifact_location``) when missing."""
    from mlflow.exceptions import MlflowException

    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(mlflow_client.create_experiment(name, artifact_location=artifact_location))
    except MlflowException:  # another process created it in between
        found = mlflow_client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def run_exists(mlflow_client: Any, run_id: str) -> bool:
    """Whether the store holds the run ``run_id`` (not deleted)."""
    from mlflow.exceptions import MlflowException

    try:
        run = mlflow_client.get_run(run_id)
    except MlflowException:
        return False
    return bool(run.info.lifecycle_stage != "deleted")


def files_with_suffix(directory: Path, suffixes: Sequence[str], skip: Path) -> Iterator[Path]:
    """The files under ``directory`` (recursively, in name order) whose names end with one of
    ``suffixes``, leaving out the tree ``skip`` (the default store and its artifacts)."""
    if not suffixes:
        return
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name.endswith(tuple(suffixes)) and not path.is_relative_to(skip):
            yield path


def last_checkpoint(work_dir: Path) -> Path | None:
    """The checkpoint that ``WORK_DIR/last_checkpoint`` names, when it exists."""
    pointer = work_dir / LAST_CHECKPOINT
    if not pointer.is_file():
        return None
    path = work_dir / pointer.read_text(encoding="utf-8").strip()
    return path if path.exists() else None


def best_checkpoints(work_dir: Path, metrics: Sequence[str]) -> dict[str, Path]:
    """The best checkpoint of each of ``metrics`` that ``WORK_DIR/best_checkpoints.json`` names and
    that exists, in ``metrics``' order. Only these metrics: an earlier run may have left the file."""
    marker = work_dir / BEST_MARKER
    if not metrics or not marker.is_file():
        return {}
    try:
        entries = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    paths = {m: work_dir / str(entries[m]["path"]) for m in metrics if isinstance(entries.get(m), dict)}
    return {metric: path for metric, path in paths.items() if path.exists()}
