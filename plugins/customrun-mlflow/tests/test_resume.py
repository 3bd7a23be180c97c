"""A resumed run continues its MLflow run (the run id is hook state in the checkpoint), bit-exactly."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from customrun_core import Hook
from customrun_core.errors import TrainingInterrupted
from customrun_core.testing import assert_resume_is_exact, tiny_config

pytest.importorskip("customrun_mlflow", reason="customrun-mlflow is not installed here: tox -e mlflow")

FAST_2 = ["train_dataloader.batch_size=719", "default_hooks.logger.interval=1", "train_cfg.max_epochs=2"]


def test_a_resumed_run_continues_the_same_mlflow_run(
    train, mlflow_hook, tracking_uri, request, readback
) -> None:
    first = train(mlflow_hook(), epochs=2)
    run_id = readback.only_run(tracking_uri, request.node.name).info.run_id
    resumed = train(mlflow_hook(), epochs=3, resume=True)
    run = readback.only_run(tracking_uri, request.node.name)  # still one run
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    got = readback.history(tracking_uri, run_id)
    assert [step for step, _ in got["train/loss"]] == [1, 2, 3, 4, 5, 6]
    assert [step for step, _ in got["val/accuracy/top1"]] == [2, 4, 6]
    assert got == readback.scalars(resumed.work_dir)  # both runs' records, once each
    # MLflow keeps a param's first value; the change is said in the run's log
    assert run.data.params["train_cfg.max_epochs"] == "2"
    log = (first.work_dir / "run.log").read_text()
    assert "these changed since the run started: train_cfg.max_epochs (2 -> 3)" in log


def test_a_run_missing_from_the_store_is_replaced_by_a_new_one(
    train, mlflow_hook, tracking_uri, request, readback
) -> None:
    train(mlflow_hook(), epochs=1)
    client = readback.client(tracking_uri)
    old = readback.only_run(tracking_uri, request.node.name).info.run_id
    client.delete_run(old)
    result = train(mlflow_hook(), epochs=2, resume=True)
    new = readback.only_run(tracking_uri, request.node.name)  # search_runs leaves deleted runs out
    assert new.info.run_id != old
    assert (
        f"the MLflow run {old} is not in {tracking_uri}: logging to a new run"
        in (result.work_dir / "run.log").read_text()
    )
    assert [step for step, _ in readback.history(tracking_uri, new.info.run_id)["train/loss"]] == [3, 4]


def test_resume_is_exact_with_the_hook(mlflow_hook, tracking_uri, request, readback, tmp_path) -> None:
    config = tiny_config(custom_hooks=[mlflow_hook()])
    # The checkpoints' hook state (the run id) is compared too: each resumed run continued the first
    assert assert_resume_is_exact(config, tmp_path, every=10) == [10, 20]
    run = readback.only_run(tracking_uri, request.node.name)
    assert run.info.status == "FINISHED"


class _Terminate(Hook):
    """Sends this process SIGTERM after the second iteration: customrun's graceful stop."""

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        if runner.iter == 1:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_run_stopped_by_a_signal_is_killed_and_its_resume_finishes_it(
    train, customrun_run, mlflow_hook, tracking_uri, request, readback
) -> None:
    with pytest.raises(TrainingInterrupted):
        customrun_run(hooks=[_Terminate()], custom_hooks=[mlflow_hook()], overrides=FAST_2)
    run = readback.only_run(tracking_uri, request.node.name)
    assert run.info.status == "KILLED"
    assert run.data.tags["customrun.last_checkpoint"].endswith("iter_2.pt")
    train(mlflow_hook(), epochs=2, resume=True)
    resumed = readback.only_run(tracking_uri, request.node.name)
    assert (resumed.info.run_id, resumed.info.status) == (run.info.run_id, "FINISHED")
    assert [s for s, _ in readback.history(tracking_uri, run.info.run_id)["train/loss"]] == [1, 2, 3, 4]
