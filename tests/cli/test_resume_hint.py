"""The line a stopped training prints says how to go on with the same run (issue 21, item 1): its work
directory and every override. The command is taken from that line and run as printed, from the same
directory, and the resumed run must end bit-identical to a run that was never stopped (test_faults'
reference run: the same config, work directory and overrides apart)."""

from __future__ import annotations

import logging
import shlex
import signal
import sys
from pathlib import Path

import pytest
import torch

from customrun_core.stopping import GracefulStop
from tests.test_faults import (
    ITER_CHECKPOINTS,
    ITER_LOOP,
    ITERATIONS,
    customrun,
    final_weights,
    uninterrupted,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

__all__ = ["uninterrupted"]  # the reference run is a fixture of test_faults.py, shared here

HINT = "go on with: "


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_the_printed_command_resumes_the_same_run_bit_identical(
    tmp_path: Path, sig: signal.Signals, uninterrupted: dict[str, torch.Tensor]
) -> None:
    # The config file alone would train 10 iterations into MMEngine's default work dir: only the
    # command line makes it the reference run, so a hint that loses either trains something else.
    log = tmp_path / "probe.log"
    loop = {**ITER_LOOP, "max_iters": 10}
    cfg = write_config(
        tmp_path,
        "cfg.toml",
        train_cfg=loop,
        default_hooks=ITER_CHECKPOINTS,
        custom_hooks=[{"type": "Probe", "log": str(log), "delay": 0.05}],
    )
    work = "runs/ctrl c"  # a space: the printed path must be quoted to paste
    run = customrun(
        tmp_path, "train", cfg.name, "--work-dir", work, "--set", f"train_cfg.max_iters={ITERATIONS}"
    )
    wait_for(log, "iter 12", run)  # past the 10 iterations of the file
    run.send_signal(sig)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 128 + sig, stderr

    [message] = stderr.strip().splitlines()
    assert HINT in message, message
    printed = message.split(HINT, 1)[1]
    assert printed == f"customrun train {shlex.quote(work + '/config.toml')} --resume"
    program, *args = shlex.split(printed)
    assert program == "customrun"
    resumed = customrun(tmp_path, *args)  # as printed, from the same directory
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert "(resumed)" in stdout

    got = final_weights(tmp_path / work / f"iter_{ITERATIONS}.pt")
    assert not (tmp_path / "work_dirs").exists()
    assert uninterrupted.keys() == got.keys()
    assert all(torch.equal(uninterrupted[k], got[k]) for k in got)


def stop(world_size: int = 1) -> GracefulStop:
    stopping = GracefulStop(world_size, logging.getLogger("test"))
    stopping.signal = signal.SIGINT
    return stopping


def test_the_path_is_relative_under_the_working_directory_else_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inside = stop().interruption(7, tmp_path / "runs" / "a", "cfg.toml")
    assert str(inside).endswith(f"{HINT}customrun train runs/a/config.toml --resume")
    assert inside.exit_code == 128 + signal.SIGINT
    elsewhere = tmp_path.parent / "other's runs"
    outside = stop().interruption(7, elsewhere, "cfg.toml")
    assert str(outside).endswith(
        f"{HINT}customrun train {shlex.quote(str(elsewhere / 'config.toml'))} --resume"
    )


def test_under_torchrun_the_hint_is_the_torchrun_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    message = str(stop(world_size=4).interruption(20, tmp_path / "w", "cfg.toml"))
    assert message.endswith(
        f"{HINT}torchrun <the same torchrun options> -m customrun_core train w/config.toml --resume"
    )


def test_modules_beside_a_config_elsewhere_are_named_by_pythonpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``customrun train examples/own-code/train.toml`` imports ``model.py`` from beside the config
    (import_paths puts that directory on ``sys.path``); ``WORK_DIR/config.toml`` lies elsewhere."""
    monkeypatch.chdir(tmp_path)
    beside = tmp_path / "own code"
    beside.mkdir()
    config = str(beside / "train.toml")
    plain = str(stop().interruption(3, tmp_path / "w", config))
    assert plain.endswith(f"{HINT}customrun train w/config.toml --resume")
    monkeypatch.setattr(sys, "path", [*sys.path, str(beside)])
    message = str(stop().interruption(3, tmp_path / "w", config))
    assert message.endswith(f"{HINT}PYTHONPATH='own code' customrun train w/config.toml --resume")
