"""MLflowLoggerHook on real trainings, read back from the store with MLflow's own MlflowClient."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from customrun_core import Hook

MLflowLoggerHook = pytest.importorskip(
    "customrun_mlflow", reason="customrun-mlflow is not installed here: tox -e mlflow"
).MLflowLoggerHook


def _leaves(data: Any, path: str = "") -> dict[str, Any]:
    """The config's values by key path, walked here independently of the hook's flattening."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_leaves(value, f"{path}{key}."))
        return out
    if isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
        out = {}
        for index, item in enumerate(data):
            out.update(_leaves(item, f"{path}{index}."))
        return out
    return {path[:-1]: data}


def test_metrics_are_the_logged_records_at_the_logged_steps(
    train, mlflow_hook, tracking_uri, request, readback
) -> None:
    result = train(mlflow_hook())
    run = readback.only_run(tracking_uri, request.node.name)
    got = readback.history(tracking_uri, run.info.run_id)
    # logger interval 1, 2 iterations per epoch, validation after each of the 2 epochs
    assert [step for step, _ in got["train/loss"]] == [1, 2, 3, 4]
    assert [step for step, _ in got["val/accuracy/top1"]] == [2, 4]
    assert got == readback.scalars(result.work_dir)  # every key, step and value (float64 both)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "work"  # the work directory's name
    assert run.data.tags["customrun.work_dir"] == str(result.work_dir.resolve())


def test_params_are_the_resolved_config_by_key_path(
    train, mlflow_hook, tracking_uri, request, readback
) -> None:
    result = train(mlflow_hook(params={"dataset_version": 3, "notes": {"by": "me"}}))
    params = readback.only_run(tracking_uri, request.node.name).data.params
    config = tomllib.loads((result.work_dir / "config.toml").read_text())
    leaves = _leaves(config)
    assert set(params) == set(leaves) | {"dataset_version", "notes.by"}
    assert params["optim_wrapper.optimizer.lr"] == "0.1"
    assert params["optim_wrapper.optimizer.type"] == "SGD"
    assert params["model.backbone.hidden_features"] == "[32]"
    assert params["train_cfg.max_epochs"] == "2"
    assert params["train_dataloader.shuffle"] == "true"
    assert params["custom_hooks.0.type"] == "MLflowLoggerHook"
    assert params["dataset_version"] == "3" and params["notes.by"] == "me"


def test_tracked_config_keys_limits_the_params(train, mlflow_hook, tracking_uri, request, readback) -> None:
    train(mlflow_hook(tracked_config_keys=["optim_wrapper", "train_cfg"]))
    params = readback.only_run(tracking_uri, request.node.name).data.params
    assert params == {
        "optim_wrapper.optimizer.type": "SGD",
        "optim_wrapper.optimizer.lr": "0.1",
        "optim_wrapper.optimizer.momentum": "0.9",
        "train_cfg.type": "EpochBasedTrainLoop",
        "train_cfg.max_epochs": "2",
    }


def test_the_config_and_the_logs_are_artifacts_and_the_checkpoint_a_tag(
    train, mlflow_hook, tracking_uri, request, readback, tmp_path
) -> None:
    result = train(mlflow_hook(tags={"team": "vision", "attempt": 2}, run_name="first"))
    run = readback.only_run(tracking_uri, request.node.name)
    client = readback.client(tracking_uri)
    names = [info.path for info in client.list_artifacts(run.info.run_id)]
    assert names == ["config.toml", "plugins.json", "run.log", "scalars.jsonl"]
    copy = client.download_artifacts(run.info.run_id, "config.toml", str(tmp_path))
    assert Path(copy).read_text() == (result.work_dir / "config.toml").read_text()
    assert run.data.tags["customrun.last_checkpoint"] == str((result.work_dir / "epoch_2.pt").resolve())
    assert run.data.tags["team"] == "vision" and run.data.tags["attempt"] == "2"
    assert run.info.run_name == "first"


def test_the_default_store_is_sqlite_in_the_work_dir(train, readback, tmp_path) -> None:
    result = train({"type": "MLflowLoggerHook", "exp_name": "digits", "log_checkpoint": True}, epochs=1)
    work_dir = result.work_dir.resolve()
    database = work_dir / "mlflow" / "mlflow.db"
    assert database.is_file()
    run = readback.only_run(f"sqlite:///{database}", "digits")
    stored = Path(run.info.artifact_uri.removeprefix("file://"))
    assert stored.is_relative_to(work_dir / "mlflow" / "artifacts")
    assert (stored / "checkpoints" / "epoch_1.pt").read_bytes() == (work_dir / "epoch_1.pt").read_bytes()
    assert not (tmp_path / "mlruns").exists()  # MLflow's own default artifact root stays unused
    names = [info.path for info in readback.client(f"sqlite:///{database}").list_artifacts(run.info.run_id)]
    assert "mlflow" not in names  # the store is not logged into itself


def test_a_test_after_training_logs_to_the_same_run_and_a_test_run_to_a_new_one(
    train, mlflow_hook, customrun_run, tracking_uri, request, readback
) -> None:
    result = train(mlflow_hook(), epochs=1)
    result.runner.test()
    run = readback.only_run(tracking_uri, request.node.name)
    assert readback.history(tracking_uri, run.info.run_id)["test/accuracy/top1"][0][0] == 2
    assert run.info.status == "FINISHED"
    checkpoint = str(result.work_dir / "epoch_1.pt")
    customrun_run(mode="test", custom_hooks=[mlflow_hook()], load_from=checkpoint)
    client = readback.client(tracking_uri)
    experiment = client.get_experiment_by_name(request.node.name)
    assert len(client.search_runs([experiment.experiment_id])) == 2


class _Boom(Hook):
    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if runner.iter == 2:
            raise RuntimeError("boom")


def test_a_run_that_fails_is_marked_failed_with_what_it_logged(
    train, mlflow_hook, customrun_run, tracking_uri, request, readback
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        customrun_run(
            hooks=[_Boom()],
            custom_hooks=[mlflow_hook()],
            overrides=["train_dataloader.batch_size=719", "default_hooks.logger.interval=1"],
            train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        )
    run = readback.only_run(tracking_uri, request.node.name)
    assert run.info.status == "FAILED"
    assert [step for step, _ in readback.history(tracking_uri, run.info.run_id)["train/loss"]] == [1, 2]
    assert "run.log" in [info.path for info in readback.client(tracking_uri).list_artifacts(run.info.run_id)]


def test_only_rank_0_logs() -> None:
    hook = MLflowLoggerHook()
    assert hook.wanted(0) and not hook.wanted(1)
