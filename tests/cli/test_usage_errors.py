"""Mistakes on the command line: exit status 2 and one line on stderr (no usage block, no traceback),
while ``--help`` and a bare ``customrun`` still show the help."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from customrun_core.testing import CliResult

BASE = Path(__file__).resolve().parent.parent / "data" / "broken" / "_base.toml"

CASES = [
    pytest.param(
        ["train", BASE, "--foo"], "customrun train: error: no such option '--foo'", id="unknown-option"
    ),
    pytest.param(
        ["train", BASE, "--sett", "train_cfg.max_epochs=2"],
        "customrun train: error: no such option '--sett' (did you mean '--set'?)",
        id="misspelt-option",
    ),
    pytest.param(
        ["--tracebak", "train", BASE],
        "customrun: error: no such option '--tracebak' (did you mean '--traceback'?)",
        id="misspelt-group-option",
    ),
    pytest.param(
        ["trian", BASE],
        "customrun: error: no such command 'trian' (did you mean 'train'?)",
        id="misspelt-command",
    ),
    pytest.param(["train"], "customrun train: error: missing argument 'CFG'", id="missing-config-argument"),
    pytest.param(["test", BASE], "customrun test: error: missing option '--checkpoint'", id="missing-option"),
    pytest.param(
        ["train", BASE, "--set"],
        "customrun train: error: option '--set' requires an argument",
        id="set-without-value",
    ),
    pytest.param(
        ["train", "missing.toml"], "error: missing.toml: no such config file", id="missing-config-file"
    ),
    pytest.param(
        ["train", BASE, "--set", "train_cfg.max_epochs=[1"],
        "error: --set: train_cfg.max_epochs: invalid TOML value '[1': Unclosed array",
        id="set-malformed-value",
    ),
    pytest.param(
        ["train", BASE, "--set", "optim_wraper.type=OptimWrapper"],
        "error: --set: optim_wraper: unknown key (did you mean 'optim_wrapper'?)",
        id="set-unknown-key",
    ),
    pytest.param(
        ["train", BASE, "--set", "train_cfg.max_epoch=2"],
        "error: --set: train_cfg.max_epoch: EpochBasedTrainLoop has no argument 'max_epoch' "
        "(it takes max_epochs, val_begin, val_interval) (did you mean 'max_epochs'?)",
        id="set-unknown-argument",
    ),
    pytest.param(
        ["train", BASE, "--device", "cuda:x"],
        f"error: {BASE}: device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got 'cuda:x'",
        id="bad-device",
    ),
]


@pytest.mark.parametrize(("args", "line"), CASES)
def test_command_line_mistake_is_one_line(
    args: list[str], line: str, customrun_cli: Callable[..., CliResult]
) -> None:
    result = customrun_cli(*args)
    assert (result.exit_code, result.stderr) == (2, line + "\n")


def test_a_subprocess_shows_the_same_line(customrun_cli: Callable[..., CliResult]) -> None:
    args = ["train", BASE, "--sett", "train_cfg.max_epochs=2"]
    result = customrun_cli(*args, in_subprocess=True)
    assert (result.exit_code, result.stderr) == (
        2,
        "customrun train: error: no such option '--sett' (did you mean '--set'?)\n",
    )
    assert result.stdout == ""


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["train", "--help"], ["test", "-h"]])
def test_help_still_works(args: list[str], customrun_cli: Callable[..., CliResult]) -> None:
    result = customrun_cli(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage: customrun")
    assert "--help" in result.stdout


def test_bare_customrun_shows_the_help(customrun_cli: Callable[..., CliResult]) -> None:
    result = customrun_cli()
    assert "Usage: customrun [OPTIONS] COMMAND [ARGS]..." in result.stdout + result.stderr
    assert "train" in result.stdout + result.stderr
