"""--trace-hooks: each call of the traced hook points, with every implementation in call order."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomli_w
import torch
from click.testing import CliRunner

from customrun_core import Runner, checkpoint
from customrun_core.cli import cli
from customrun_core.errors import ConfigError
from customrun_core.testing import tiny_config

LINE = re.compile(r"\[trace\] (\w+) [\d.]+ ms: (.*)")


def traced(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, list[str]]]:
    return calls_in(capsys.readouterr().err)


def calls_in(stderr: str) -> list[tuple[str, list[str]]]:
    calls = []
    for line in stderr.splitlines():
        match = LINE.fullmatch(line)
        if match:
            parts = [] if match[2] == "no implementation" else match[2].split(", ")
            names = [part.rsplit(" ", 2)[0] for part in parts]
            calls.append((match[1], names))
    return calls


def test_only_the_named_hook_points_are_traced_in_call_order(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner.from_config(tiny_config(), trace_hooks="after_train_iter")
    runner.train()
    calls = traced(capsys)
    assert len(calls) == runner.iter
    assert {point for point, _ in calls} == {"after_train_iter"}
    assert calls[0][1] == [
        "RuntimeInfoHook", "IterTimerHook", "LoggerHook", "ParamSchedulerHook", "CheckpointHook",
    ]  # fmt: skip


def test_environment_variable_traces_every_hook_point(tmp_path: Path) -> None:
    """CUSTOMRUN_TRACE_HOOKS is read where the options are parsed, as --trace-hooks: by the CLI."""
    work = tmp_path / "work"
    config = tmp_path / "tiny.toml"
    config.write_text(tomli_w.dumps(tiny_config(work_dir=str(work))), encoding="utf-8")
    result = CliRunner().invoke(cli, ["train", str(config)], env={"CUSTOMRUN_TRACE_HOOKS": "1"})
    assert result.exit_code == 0, result.output
    iterations = torch.load(checkpoint.latest(work), weights_only=True)["meta"]["iter"]
    points = [point for point, _ in calls_in(result.stderr)]
    assert points[0] == "before_run" and points[-1] == "after_run"
    assert points.count("before_train_iter") == iterations
    assert "after_val_epoch" in points


def test_a_misspelt_hook_point_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--trace-hooks: 'after_train_itr' is not a hook point"):
        Runner.from_config(tiny_config(), trace_hooks="after_train_itr")


def test_a_checkpoint_saved_inside_a_traced_call_leaves_its_line_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """CheckpointHook fires before_save_checkpoint from within after_train_epoch: the nested call
    gets its own line first, and the epoch end still lists every implementation it ran."""
    runner = Runner.from_config(tiny_config(), trace_hooks="after_train_epoch,before_save_checkpoint")
    runner.train()
    epoch_end = [name for name, _ in runner.hooks.order()["after_train_epoch"]]
    assert epoch_end == ["ParamSchedulerHook", "CheckpointHook"]
    assert traced(capsys) == [("before_save_checkpoint", []), ("after_train_epoch", epoch_end)]
