"""``customrun config CFG --check``: train's pre-flight check without training (issue 21, item 9)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from customrun_core import assembly
from customrun_core.cli import cli

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits.toml"
MISTAKES = {  # what a new user wrote, and the line train refuses it with
    "max_epoch": (
        ("max_epochs = 10", "max_epoch = 10"),
        "train_cfg.max_epoch: EpochBasedTrainLoop has no argument 'max_epoch' (it takes max_epochs, val_begin,"
        " val_interval) (did you mean 'max_epochs'?)",
    ),
    "batch_size": (
        ("batch_size = 32", 'batch_size = "32"'),
        "train_dataloader.batch_size: expected an integer, got string '32'",
    ),
    "SDG": (
        ('type = "SGD"', 'type = "SDG"'),
        "optim_wrapper.optimizer.type: unknown optimizer 'SDG' (no entry point in group customrun.optimizers,"
        " no registered name, no import path) (did you mean 'SGD'?)",
    ),
}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_mistake_is_one_line_and_exit_2_as_train_says_it(name: str, tmp_path: Path) -> None:
    (old, new), message = MISTAKES[name]
    text = DIGITS.read_text()
    assert text.count(old) == 1
    config = tmp_path / f"{name}.toml"
    config.write_text(text.replace(old, new))
    assert invoke("config", str(config)) == (0, invoke("config", str(config))[1])  # printing still works
    code, output = invoke("config", str(config), "--check")
    assert (code, output) == (2, f"error: {config}: {message}\n")
    assert invoke("train", str(config), "--work-dir", str(tmp_path / "w")) == (code, output)


def test_digits_passes_and_nothing_is_built_or_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("--check built something")

    for name in ("build_model", "build_dataloader", "build_optim_wrapper", "build_hooks", "build_train_loop"):
        monkeypatch.setattr(assembly, name, refuse)
    work = tmp_path / "w"
    code, output = invoke("config", str(DIGITS), "--check", "--work-dir", str(work))
    assert (code, output) == (
        0,
        f"ok: {DIGITS}: every component resolves and its arguments check (nothing built)\n",
    )
    assert not work.exists() and not (tmp_path / "work_dirs").exists()


def test_set_and_work_dir_are_checked_as_train_checks_them(tmp_path: Path) -> None:
    code, output = invoke("config", str(DIGITS), "--check", "--set", 'optim_wrapper.optimizer.type="SDG"')
    assert code == 2 and output.startswith(
        "error: --set: optim_wrapper.optimizer.type: unknown optimizer 'SDG'"
    )
    assert invoke("config", str(DIGITS), "--check", "--set", "train_cfg.max_epochs=2")[0] == 0
    code, output = invoke("config", str(DIGITS), "--work-dir", str(tmp_path / "runs" / "a"))
    assert code == 0 and f'work_dir = "{tmp_path / "runs" / "a"}"' in output
