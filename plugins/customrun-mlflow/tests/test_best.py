"""With CheckpointHook's save_best: the best checkpoint's path as a tag, its marker and file as artifacts."""

from __future__ import annotations

import pytest

pytest.importorskip("customrun_mlflow", reason="customrun-mlflow is not installed here: tox -e mlflow")


def test_the_best_checkpoint_is_a_tag_and_its_marker_an_artifact(
    train, mlflow_hook, tracking_uri, request, readback
) -> None:
    checkpoint = {"type": "CheckpointHook", "save_best": "accuracy/top1"}
    result = train(mlflow_hook(log_checkpoint=True), epochs=3, default_hooks={"checkpoint": checkpoint})
    run = readback.only_run(tracking_uri, request.node.name)
    accuracy = readback.scalars(result.work_dir)["val/accuracy/top1"]  # (step, value), 2 steps an epoch
    best_epoch = max(range(3), key=lambda i: (accuracy[i][1], -i)) + 1  # the first of equal bests
    best = result.work_dir.resolve() / f"best_accuracy_top1_epoch_{best_epoch}.pt"  # MMEngine's name
    assert run.data.tags["customrun.best_checkpoint"] == str(best)
    client = readback.client(tracking_uri)
    assert "best_checkpoints.json" in [info.path for info in client.list_artifacts(run.info.run_id)]
    uploaded = [info.path for info in client.list_artifacts(run.info.run_id, "checkpoints")]
    assert uploaded == [f"checkpoints/{best.name}"]
