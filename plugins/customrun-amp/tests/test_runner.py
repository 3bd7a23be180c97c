"""The installed distribution through customrun's Runner and command line, on the CPU."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch
from click.testing import CliRunner
from customrun_core import Runner, registry
from customrun_core.cli import cli
from customrun_core.errors import ConfigError
from customrun_core.testing import tiny_config

from customrun_amp import AmpOptimWrapper

SGD = {"type": "SGD", "lr": 0.1, "momentum": 0.9}


@pytest.fixture(autouse=True)
def _fresh_entry_points() -> None:
    registry.refresh()


def amp_config(tmp_path: Path, **options: Any) -> dict[str, Any]:
    return tiny_config(
        optim_wrapper={"type": "AmpOptimWrapper", "optimizer": SGD, **options},
        work_dir=str(tmp_path / "work"),
    )


def test_the_entry_point_names_this_distribution() -> None:
    (entry,) = registry.scan_entry_points()["optim_wrappers"]["AmpOptimWrapper"]
    assert entry.dist == "customrun-amp"
    assert registry.resolve("optim_wrappers", "AmpOptimWrapper") is AmpOptimWrapper


def test_a_run_trains_in_bfloat16_on_the_cpu(tmp_path: Path) -> None:
    runner = Runner.from_config(amp_config(tmp_path), device="cpu")
    runner.train()
    assert isinstance(runner.optim_wrapper, AmpOptimWrapper)
    assert runner.optim_wrapper.cast_dtype == torch.bfloat16
    assert runner.iter == len(runner.train_dataloader)
    assert all(torch.isfinite(p).all() and p.dtype == torch.float32 for p in runner.model.parameters())
    lines = (tmp_path / "work" / "scalars.jsonl").read_text(encoding="utf-8").splitlines()
    train = [json.loads(line) for line in lines if json.loads(line)["mode"] == "train"]
    assert train and all(math.isfinite(row["loss"]) for row in train)


def test_a_resumed_run_continues_with_the_saved_scale(tmp_path: Path) -> None:
    """The growth tracker counts clean steps across the resume: restored, not restarted."""
    scaler = {"init_scale": 2.0, "growth_interval": 1000}
    Runner.from_config(amp_config(tmp_path, loss_scale=scaler), device="cpu").train()
    checkpoint = torch.load(tmp_path / "work" / "epoch_1.pt", weights_only=True)
    per_epoch = checkpoint["meta"]["iter"]
    assert checkpoint["optimizer"]["loss_scaler"] == {
        "scale": 2.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 1000,
        "_growth_tracker": per_epoch,
    }
    assert checkpoint["optimizer"]["skipped_steps"] == 0

    cfg = amp_config(tmp_path, loss_scale=scaler)
    cfg["train_cfg"] = {"type": "EpochBasedTrainLoop", "max_epochs": 2}
    resumed = Runner.from_config(cfg, device="cpu", resume=True)
    resumed.train()
    assert resumed.optim_wrapper.loss_scaler.state_dict()["_growth_tracker"] == 2 * per_epoch


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dtype": "float16"}, "optim_wrapper.dtype: float16 is not supported on the CPU: use 'bfloat16'"),
        (
            {"loss_scale": {"init_scal": 512.0}},
            "optim_wrapper.loss_scale.init_scal: GradScaler has no argument 'init_scal'",
        ),
        ({"loss_scale": "static"}, "optim_wrapper.loss_scale: expected 'dynamic', a number > 0"),
        ({"loss_scale": False}, "optim_wrapper.loss_scale: expected a string or a number or a table"),
    ],
)
def test_config_errors_name_the_key_path(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    runner = Runner.from_config(amp_config(tmp_path, **options), device="cpu")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        runner.train()


def test_the_command_line_reports_a_bad_dtype_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "amp.toml"
    config.write_text(tomli_w.dumps(amp_config(tmp_path, dtype="float16")), encoding="utf-8")
    result = CliRunner().invoke(cli, ["train", str(config), "--device", "cpu"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {config}: optim_wrapper.dtype: float16 is not supported on the CPU: use 'bfloat16' (the CPU default)"
    )
