"""A config as MLflow params: key paths, names and values, against values worked out by hand."""

from __future__ import annotations

import pytest

pytest.importorskip("customrun_mlflow", reason="customrun-mlflow is not installed here: tox -e mlflow")
from customrun_mlflow.params import MAX_VALUE, batches, flatten, mlflow_name, param_value


def test_tables_flatten_to_dotted_key_paths_and_arrays_of_tables_to_indices() -> None:
    config = {
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}, "clip_grad": {"max_norm": 1.0}},
        "param_scheduler": [{"type": "LinearLR", "end": 5}, {"type": "MultiStepLR", "milestones": [8, 11]}],
        "custom_hooks": [],
        "work_dir": "work",
    }
    assert flatten(config) == {
        "optim_wrapper.optimizer.type": "SGD",
        "optim_wrapper.optimizer.lr": 0.1,
        "optim_wrapper.clip_grad.max_norm": 1.0,
        "param_scheduler.0.type": "LinearLR",
        "param_scheduler.0.end": 5,
        "param_scheduler.1.type": "MultiStepLR",
        "param_scheduler.1.milestones": [8, 11],
        "custom_hooks": [],
        "work_dir": "work",
    }


def test_values_are_written_as_toml_spells_them_and_cut_at_mlflow_s_limit() -> None:
    assert param_value(True) == "true"
    assert param_value(0.1) == "0.1"
    assert param_value([8, 11]) == "[8, 11]"
    assert param_value("SGD") == "SGD"
    long = param_value("x" * (MAX_VALUE + 10))
    assert len(long) == 6000 and long.endswith("...")


def test_names_keep_what_mlflow_accepts_and_replace_the_rest() -> None:
    assert mlflow_name("val/accuracy/top1") == "val/accuracy/top1"
    assert (
        mlflow_name("paramwise_cfg.custom_keys.backbone.layer-1 x")
        == "paramwise_cfg.custom_keys.backbone.layer-1 x"
    )
    assert mlflow_name("custom_keys.head*.bias") == "custom_keys.head_.bias"
    assert len(mlflow_name("k" * 300)) == 250


def test_batches_hold_at_most_100() -> None:
    assert [len(b) for b in batches(list(range(250)))] == [100, 100, 50]
