"""--trace-hooks: each call of the traced hook points, with every implementation in call order."""

from __future__ import annotations

import re

import pytest

from customrun_core import Runner
from customrun_core.errors import ConfigError
from customrun_core.testing import tiny_config

LINE = re.compile(r"\[trace\] (\w+) [\d.]+ ms: (.*)")


def traced(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, list[str]]]:
    calls = []
    for line in capsys.readouterr().err.splitlines():
        match = LINE.fullmatch(line)
        if match:
            names = [part.rsplit(" ", 2)[0] for part in match[2].split(", ")]
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


def test_environment_variable_traces_every_hook_point(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMRUN_TRACE_HOOKS", "1")
    runner = Runner.from_config(tiny_config())
    runner.train()
    points = [point for point, _ in traced(capsys)]
    assert points[0] == "before_run" and points[-1] == "after_run"
    assert points.count("before_train_iter") == runner.iter
    assert "after_val_epoch" in points


def test_a_misspelt_hook_point_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--trace-hooks: 'after_train_itr' is not a hook point"):
        Runner.from_config(tiny_config(), trace_hooks="after_train_itr")
