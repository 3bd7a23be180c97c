"""The work directory and the device (issue 20, items 7 and 10): a work directory that cannot be
created or written and a device customrun cannot train on are one line and exit status 2 before
anything is built; nothing is written outside the work directory unless an absolute path says so;
the user's config file is never overwritten; two trainings never share a work directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from customrun_core.errors import ConfigError
from customrun_core.testing import CliResult, tiny_config

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX paths, flock and fork")
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def write(path: Path, **changes: Any) -> Path:
    path.write_text(tomli_w.dumps(tiny_config(**changes)), encoding="utf-8")
    return path


def assert_one_line(result: CliResult, *parts: str) -> str:
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr_lines[0]
    for part in parts:
        assert part in line, line
    return line


# -- item 7: work directories that cannot be -------------------------------------------------------
def _bad_work_dirs(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """id: (work_dir, what the line says)."""
    (tmp_path / "a_file").write_text("x", encoding="utf-8")
    return {
        "is-a-file": (str(tmp_path / "a_file"), "is a file"),
        "under-a-file": (str(tmp_path / "a_file" / "sub" / "run"), "which is a file"),
        "name-too-long": (str(tmp_path / ("n" * 300)), "File name too long"),
        "in-proc": ("/proc/customrun-work", "cannot create or write"),
        "not-writable-proc": ("/proc/self", "cannot create or write"),
    }


@POSIX
@pytest.mark.parametrize(
    "case", ["is-a-file", "under-a-file", "name-too-long", "in-proc", "not-writable-proc"]
)
def test_a_work_dir_that_cannot_be_is_one_line(
    case: str, tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    work_dir, says = _bad_work_dirs(tmp_path)[case]
    cfg = write(tmp_path / "cfg.toml", work_dir=work_dir)
    result = customrun_cli("train", cfg)
    assert_one_line(result, f"{cfg}: work_dir: ", says)
    assert result.stdout == ""  # refused before the run logged (or built) anything


@POSIX
@pytest.mark.skipif(ROOT, reason="root writes into a read-only directory (the /proc cases cover it)")
def test_a_read_only_work_dir_is_one_line(tmp_path: Path, customrun_cli: Callable[..., CliResult]) -> None:
    locked_dir = tmp_path / "ro"
    locked_dir.mkdir()
    locked_dir.chmod(0o555)
    try:
        for work_dir in (locked_dir, locked_dir / "run"):
            cfg = write(tmp_path / "cfg.toml", work_dir=str(work_dir))
            assert_one_line(
                customrun_cli("train", cfg), "work_dir: cannot create or write", "Permission denied"
            )
    finally:
        locked_dir.chmod(0o755)


# -- item 7: devices ------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["meta", "xla", "mps", "hpu"])
def test_a_device_customrun_cannot_train_on_is_one_line(
    device: str, tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    cfg = write(tmp_path / "cfg.toml", work_dir=str(tmp_path / "work"))
    result = customrun_cli("train", cfg, "--device", device)
    assert_one_line(result, f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    assert not (tmp_path / "work").exists()  # refused before the work directory was made


def test_a_cuda_index_torch_does_not_see_is_one_line(
    tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    import torch

    index = torch.cuda.device_count()  # one past the last
    cfg = write(tmp_path / "cfg.toml", work_dir=str(tmp_path / "work"))
    result = customrun_cli("train", cfg, "--device", f"cuda:{index}")
    assert_one_line(result, f"device: 'cuda:{index}' asked for, but torch sees")


# -- item 10: TensorBoard's log_dir -----------------------------------------------------------------
@pytest.mark.parametrize("log_dir", ["../../x", "..", "tb/../../x"])
def test_a_relative_log_dir_leaving_the_work_dir_is_refused(
    log_dir: str, tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    pytest.importorskip("torch.utils.tensorboard")
    hooks = [{"type": "TensorBoardLoggerHook", "log_dir": log_dir}]
    cfg = write(tmp_path / "cfg.toml", work_dir=str(tmp_path / "a" / "b" / "work"), custom_hooks=hooks)
    result = customrun_cli("train", cfg)
    assert_one_line(result, "log_dir: ", "leaves the work directory")
    assert not (tmp_path / "a" / "x").exists() and not (tmp_path / "x").exists()


def test_an_absolute_or_inner_log_dir_is_allowed(tmp_path: Path) -> None:
    pytest.importorskip("torch.utils.tensorboard")
    from customrun_core.hooks.tensorboard import TensorBoardLoggerHook

    for log_dir in (str(tmp_path / "elsewhere"), "tb/run", "tb/../tb2", "."):
        assert TensorBoardLoggerHook(log_dir=log_dir).log_dir == log_dir
    with pytest.raises(ConfigError, match="leaves the work directory"):
        TensorBoardLoggerHook(log_dir="../x")


# -- item 10: the user's config.toml ---------------------------------------------------------------
def test_a_work_dir_holding_the_config_file_does_not_overwrite_it(
    tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    base = write(folder / "base.toml")
    cfg = folder / "config.toml"
    text = '# my notes\nextends = "base.toml"\n[train_cfg]\nmax_epochs = 1\n'
    cfg.write_text(text, encoding="utf-8")
    result = customrun_cli("train", cfg, "--work-dir", folder)
    assert_one_line(result, f"{cfg}: work_dir: ", "pick another work directory")
    assert cfg.read_text(encoding="utf-8") == text
    assert base.exists() and not (folder / "last_checkpoint").exists()


def test_work_dir_config_toml_trains_again_in_place(
    tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    """The promise of docs/index.md: ``customrun train WORK_DIR/config.toml`` trains it again,
    also in that same work directory (the file already holds the resolved config)."""
    work = tmp_path / "work"
    first = customrun_cli("train", write(tmp_path / "cfg.toml", work_dir=str(work)))
    assert first.exit_code == 0, first.stderr
    written = (work / "config.toml").read_text(encoding="utf-8")
    again = customrun_cli("train", work / "config.toml")
    assert again.exit_code == 0, again.stderr
    assert (work / "config.toml").read_text(encoding="utf-8") == written


# -- item 10: one training per work directory -------------------------------------------------------
HOLD = '''
import time
from pathlib import Path

from customrun_core import register
from customrun_core.hooks import Hook


@register("hooks")
class Hold(Hook):
    """Writes ``started`` to ``signal`` in before_train, then waits until ``release`` exists."""

    def __init__(self, signal, release):
        self.signal, self.release = Path(signal), Path(release)

    def before_train(self, runner):
        self.signal.write_text("started")
        while not self.release.exists():
            time.sleep(0.02)
'''


def _held_training(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path, Path]:
    """``customrun train`` in a child process, held in before_train until ``release`` exists: the
    process, the config (same work directory for a second run), the started and release files."""
    (tmp_path / "hold_hook.py").write_text(HOLD, encoding="utf-8")
    started, release = tmp_path / "started", tmp_path / "release"
    hook = {"type": "Hold", "signal": str(started), "release": str(release)}
    cfg = write(
        tmp_path / "held.toml",
        work_dir=str(tmp_path / "work"),
        custom_imports={"imports": ["hold_hook"]},
        custom_hooks=[hook],
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])),
    }
    env.pop("CUSTOMRUN_TRACEBACK", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "customrun_core", "train", str(cfg)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not started.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the held training did not start: {process.communicate()[1]}")
        time.sleep(0.02)
    return process, cfg, started, release


@POSIX
def test_a_second_training_in_a_work_dir_in_use_is_refused(
    tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    process, _, _, release = _held_training(tmp_path)
    try:
        second = write(tmp_path / "second.toml", work_dir=str(tmp_path / "work"))
        result = customrun_cli("train", second)
        line = assert_one_line(result, f"{second}: work_dir: another training (pid {process.pid})")
        assert "pick another work directory" in line
        assert result.stdout == ""
    finally:
        release.write_text("go")
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr  # the first training was not disturbed
    assert customrun_cli("train", second).exit_code == 0  # the lock ended with it


@POSIX
def test_the_lock_ends_with_a_killed_training(
    tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    process, cfg, _, _ = _held_training(tmp_path)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    result = customrun_cli("train", cfg, "--set", "custom_hooks=[]")
    assert result.exit_code == 0, result.stderr


@POSIX
def test_a_forked_child_does_not_keep_the_lock(tmp_path: Path) -> None:
    """DataLoader workers are forked from the training: the lock must end with the training, not
    with the last of them."""
    from customrun_core.work_dir import locked

    ready, say_ready = os.pipe()
    with locked(tmp_path, "cfg.toml"):
        child = os.fork()
        if child == 0:  # pragma: no cover - the child (the at-fork handler ran before fork returned)
            os.write(say_ready, b"x")
            time.sleep(3)
            os._exit(0)
        os.read(ready, 1)  # the child is past fork: what it would keep of the lock, it has closed
    try:
        with locked(tmp_path, "cfg.toml"):  # this process again: its own lock is gone
            pass
        probe = "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)"
        done = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path / ".lock")], capture_output=True, check=False
        )
        assert done.returncode == 0, done.stderr  # another process takes it while the child lives
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)


def test_test_takes_no_lock(tmp_path: Path, customrun_cli: Callable[..., CliResult]) -> None:
    """``customrun test`` only reads the training's checkpoints: it runs while a training holds the
    work directory."""
    cfg = write(tmp_path / "cfg.toml", work_dir=str(tmp_path / "work"))
    assert customrun_cli("train", cfg).exit_code == 0
    from customrun_core.work_dir import locked

    with locked(tmp_path / "work", str(cfg)):
        result = customrun_cli("test", cfg, "--checkpoint", tmp_path / "work" / "epoch_1.pt")
    assert result.exit_code == 0, result.stderr
