"""Issue 22, item 5: a warning is one line ``warning: ...`` on stderr in every command, never Python's
``.../paramwise.py:285: UserWarning: ...`` with the source line under it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner

from customrun_core.cli import cli
from customrun_core.testkit import tiny_config

UNMATCHED = (
    "warning: optim_wrapper.paramwise_cfg.custom_keys.nothing: sets no parameter: "
    "no trainable parameter's name contains it"
)
OPTIM = {
    "optimizer": {"type": "SGD", "lr": 0.1},
    "paramwise_cfg": {"custom_keys": {"nothing": {"lr_mult": 2.0}}},
}


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    cfg: dict[str, Any] = tiny_config(
        optim_wrapper=OPTIM,
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 2},
        progress=False,
        default_hooks={"checkpoint": False},
    )
    del cfg["val_dataloader"], cfg["val_evaluator"]
    Path("cfg.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    return "cfg.toml"


@pytest.mark.parametrize("command", [["param-groups"], ["schedule"], ["train"]])
def test_every_command_shows_a_warning_as_one_line(config: str, command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, config])
    assert result.exit_code == 0, result.output
    assert UNMATCHED in result.stderr.splitlines()
    assert "UserWarning" not in result.stderr and ".py:" not in result.stderr


def test_the_installed_command_prints_the_same_line(config: str) -> None:
    customrun = Path(sys.executable).with_name("customrun")
    result = subprocess.run(
        [str(customrun), "schedule", config], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == UNMATCHED
