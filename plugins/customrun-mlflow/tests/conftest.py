"""Shared fixtures: short CPU trainings tracked in a local SQLite store, read back with MlflowClient."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from customrun_core.testing import logged_scalars

# No network in tests: MLflow's usage telemetry stays off (it is off under pytest too; this says so
# for the subprocesses), and no tracking URI of the environment leaks in.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_EXPERIMENT_NAME", None)

# 2 training iterations per epoch (1,438 digits / 719), one validation and one test batch
FAST = [
    "train_dataloader.batch_size=719",
    "val_dataloader.batch_size=359",
    "test_dataloader.batch_size=359",
    "default_hooks.logger.interval=1",
]


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite store for the session: creating its tables takes seconds, so tests share it and
    each uses an experiment of its own."""
    from customrun_mlflow import store

    directory = tmp_path_factory.mktemp("mlflow")
    uri = store.default_uri(directory)
    store.client(uri)  # the tables, once
    return uri


@pytest.fixture
def mlflow_hook(tracking_uri: str, request: pytest.FixtureRequest) -> Callable[..., dict[str, Any]]:
    """``mlflow_hook(**arguments)``: the hook's config table, logging to the session's store in an
    experiment named after the test."""

    def table(**arguments: Any) -> dict[str, Any]:
        return {
            "type": "MLflowLoggerHook",
            "tracking_uri": tracking_uri,
            "exp_name": request.node.name,
            **arguments,
        }

    return table


@pytest.fixture
def train(customrun_run: Callable[..., Any]) -> Callable[..., Any]:
    """``train(*hook_tables, epochs=2, **changes)``: a run of ``epochs`` epochs of 2 iterations."""

    def run(*tables: Any, epochs: int = 2, overrides: tuple[str, ...] = (), **changes: Any) -> Any:
        loop = {"type": "EpochBasedTrainLoop", "max_epochs": epochs}
        changes.setdefault("train_cfg", loop)
        return customrun_run(custom_hooks=list(tables), overrides=[*FAST, *overrides], **changes)

    return run


def mlflow_client(uri: str) -> Any:
    """MLflow's own client of ``uri``: what the tests read back with."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def only_run(uri: str, experiment: str) -> Any:
    """The one run of ``experiment`` in ``uri``."""
    client = mlflow_client(uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([found.experiment_id])
    assert len(runs) == 1, [run.info.run_id for run in runs]
    return runs[0]


def history(uri: str, run_id: str) -> dict[str, list[tuple[int, float]]]:
    """Every metric of a run, by key: (step, value) in step order, as MLflow returns them."""
    client = mlflow_client(uri)
    keys = client.get_run(run_id).data.metrics
    return {key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key)) for key in keys}


def scalars(work_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """What scalars.jsonl holds, in MLflow's shape: ``mode/name`` -> (step, value) in step order."""
    return {key: sorted(points) for key, points in logged_scalars(work_dir).items()}


@pytest.fixture
def readback() -> SimpleNamespace:
    """The helpers above, for the test modules (imported by pytest in importlib mode, they cannot
    import this file): ``client``, ``only_run``, ``history``, ``scalars``."""
    return SimpleNamespace(client=mlflow_client, only_run=only_run, history=history, scalars=scalars)
