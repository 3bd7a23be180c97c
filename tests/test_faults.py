"""Faults injected into real runs: signals (graceful stop, second signal), SIGKILL at random
moments of checkpoint saves, damaged and unsafe checkpoint files, non-finite losses.

The signal and SIGKILL tests run ``customrun train`` in a child process, with a probe hook
(imported through ``custom_imports``) that writes the hook points it sees to a file, so that the
test knows when training is under way and which hooks ran after the stop.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from customrun_core import checkpoint as ckpt
from customrun_core.errors import NonFiniteLossError
from customrun_core.runner import Runner
from customrun_core.testing import tiny_config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

PROBE = '''
import json
import os
import time
from pathlib import Path

from customrun_core import register
from customrun_core.hooks import Hook


@register("hooks")
class Probe(Hook):
    """Appends the hook points it sees to ``log``; sleeps ``pause`` seconds after iteration
    ``pause_at`` (1-based) and ``delay`` seconds after every iteration."""

    def __init__(self, log, pause_at=-1, pause=0.0, delay=0.0):
        self.log, self.pause_at, self.pause, self.delay = Path(log), pause_at, pause, delay

    def _write(self, line):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(line + "\\n")
            f.flush()

    def before_train(self, runner):
        self._write("before_train")

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        done = runner.iter + 1
        self._write(f"iter {done}")
        if done == self.pause_at:
            self._write("paused")
            time.sleep(self.pause)
        time.sleep(self.delay)

    def after_train(self, runner):
        self._write("after_train")

    def after_run(self, runner):
        self._write("after_run")
'''

DETERMINISTIC = {"seed": 5, "deterministic": True}


def write_config(directory: Path, name: str, **changes: Any) -> Path:
    """``directory/name``: tiny_config with ``changes``, the probe importable from ``directory``."""
    (directory / "fault_probe.py").write_text(PROBE, encoding="utf-8")
    cfg = tiny_config(custom_imports={"imports": ["fault_probe"]}, randomness=DETERMINISTIC, **changes)
    path = directory / name
    path.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    return path


def customrun(directory: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")])),
    }
    env.pop("CUSTOMRUN_TRACEBACK", None)
    return subprocess.Popen(
        [sys.executable, "-m", "customrun_core", *args],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(log: Path, line: str, process: subprocess.Popen[str], timeout: float = 120) -> list[str]:
    """The probe's lines once ``line`` is among them (fails if the process ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
        if line in lines:
            return lines
        if process.poll() is not None:
            pytest.fail(
                f"the run ended (status {process.returncode}) before {line!r}:\n{process.stderr.read()}"
            )
        time.sleep(0.02)
    process.kill()
    pytest.fail(f"no {line!r} within {timeout} s")


def final_weights(path: Path) -> dict[str, torch.Tensor]:
    return ckpt.load(path)["state_dict"]


ITERATIONS = 40
ITER_LOOP = {"type": "IterBasedTrainLoop", "max_iters": ITERATIONS, "val_interval": ITERATIONS}
ITER_CHECKPOINTS = {"checkpoint": {"by_epoch": False, "interval": ITERATIONS}, "logger": False}


def probed_run(directory: Path, **probe: Any) -> tuple[subprocess.Popen[str], Path, Path]:
    """``customrun train`` started on the signal tests' config with a Probe hook: the process,
    the config and the probe's log."""
    log = directory / "probe.log"
    hooks = [{"type": "Probe", "log": str(log), **probe}]
    cfg = write_config(
        directory,
        "cfg.toml",
        train_cfg=ITER_LOOP,
        default_hooks=ITER_CHECKPOINTS,
        custom_hooks=hooks,
        work_dir="run",
    )
    return customrun(directory, "train", str(cfg)), cfg, log


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    """The final weights of the signal tests' run when nothing stops it."""
    directory = tmp_path_factory.mktemp("uninterrupted")
    cfg = write_config(
        directory, "cfg.toml", train_cfg=ITER_LOOP, default_hooks=ITER_CHECKPOINTS, work_dir="run"
    )
    run = customrun(directory, "train", str(cfg))
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    return final_weights(directory / "run" / f"iter_{ITERATIONS}.pt")


def assert_stopped_gracefully(
    run: subprocess.Popen[str], stderr: str, sig: signal.Signals, log: Path, work_dir: Path
) -> int:
    """A run stopped by ``sig`` after iteration 5 or later (the probe's ``log`` says which): status
    128 + the signal, one line naming it and ``--resume``, after_train and after_run last, and that
    iteration's checkpoint saved as the last one. Returns the iteration it stopped after."""
    assert run.returncode == 128 + sig, stderr
    [message] = stderr.strip().splitlines()  # one line, no traceback
    assert sig.name in message and "--resume" in message
    lines = log.read_text(encoding="utf-8").splitlines()
    stopped_at = max(int(line.split()[1]) for line in lines if line.startswith("iter "))
    assert 5 <= stopped_at < ITERATIONS
    assert lines[-2:] == ["after_train", "after_run"]
    assert (work_dir / "last_checkpoint").read_text(encoding="utf-8") == f"iter_{stopped_at}.pt"
    assert ckpt.load(work_dir / f"iter_{stopped_at}.pt")["meta"]["iter"] == stopped_at
    return stopped_at


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_training_gracefully_and_the_resumed_run_ends_identical(
    tmp_path: Path, sig: signal.Signals, uninterrupted: dict[str, torch.Tensor]
) -> None:
    """The first SIGTERM / SIGINT: the iteration finishes, a checkpoint is saved, after_train and
    after_run run, the exit status is 128 + the signal and the one line says how to go on. The
    resumed run ends with the same weights as a run that was never stopped."""
    run, cfg, log = probed_run(tmp_path, delay=0.05)
    wait_for(log, "iter 5", run)
    run.send_signal(sig)
    _, stderr = run.communicate(timeout=120)

    stopped_at = assert_stopped_gracefully(run, stderr, sig, log, tmp_path / "run")

    resumed = customrun(tmp_path, "train", str(cfg), "--resume")
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert f"iter_{stopped_at}.pt (resumed)" in stdout

    got = final_weights(tmp_path / "run" / f"iter_{ITERATIONS}.pt")
    assert uninterrupted.keys() == got.keys()
    assert all(torch.equal(uninterrupted[k], got[k]) for k in got)


def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    """While the first signal's stop waits for a long iteration, a second one ends the process
    at once, without the checkpoint."""
    run, _, log = probed_run(tmp_path, pause_at=3, pause=60.0)
    wait_for(log, "paused", run)
    started = time.monotonic()
    run.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    run.send_signal(signal.SIGTERM)
    run.communicate(timeout=30)
    assert run.returncode == 128 + signal.SIGTERM
    assert time.monotonic() - started < 20  # not the 60 s the iteration would take
    assert not list((tmp_path / "run").glob("iter_*.pt"))


DRIVER = """
import json, os, random, signal, sys, time
from pathlib import Path

import sklearn.datasets  # noqa: F401  (imported once here, not in every child)
import torch._dynamo  # noqa: F401  (what building an optimizer imports first)

import customrun_core.runner  # noqa: F401
from customrun_core import checkpoint as ckpt
from customrun_core.cli import cli

config, work, log, kills, seed, window = sys.argv[1:]
work, log, rng = Path(work), Path(log), random.Random(int(seed))


def saves():
    return sum(line == "saving" for line in log.read_text().splitlines()) if log.exists() else 0


def child():
    try:
        cli(["train", config, "--resume"], prog_name="customrun")
    except SystemExit as end:
        os._exit(end.code or 0)
    os._exit(0)


report = []
for _ in range(int(kills)):
    before = saves()
    nth = before + rng.randint(1, 3)  # kill during this child's first, second or third save
    pid = os.fork()
    if pid == 0:
        child()
    while saves() < nth:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.exit(f"the run ended with status {os.waitstatus_to_exitcode(status)} before save {nth}")
        time.sleep(0.002)
    time.sleep(rng.uniform(0, float(window)))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    unfinished = sorted(p.name for p in work.glob(".*.tmp"))
    named = ckpt.latest(work)
    iteration = None if named is None else ckpt.load(named)["meta"]["iter"]  # raises if damaged
    report.append({"unfinished": unfinished, "named": None if named is None else named.name, "iter": iteration})
    for path in work.glob("iter_*.pt"):  # keep the disk small: only the named checkpoint stays
        if path != named:
            path.unlink()
print(json.dumps(report))
"""


def test_sigkill_at_random_moments_of_saves_never_loses_the_previous_checkpoint(tmp_path: Path) -> None:
    """A child process, killed with SIGKILL at random points of its checkpoint saves 20 times:
    after each kill ``last_checkpoint`` names a checkpoint that loads, no later than the one
    before, and the next ``--resume`` goes on from it; at the end a run resumed once more
    finishes. The saves are large enough (17 MB, ~0.1 s) for the kills to land inside them: some
    must leave an unfinished temporary file behind, or the test did not test the write."""
    log = tmp_path / "probe.log"
    (tmp_path / "fault_probe.py").write_text(
        PROBE
        + textwrap.dedent("""
        @register("hooks")
        class SaveMarker(Hook):
            def __init__(self, log):
                self.log = Path(log)

            def before_save_checkpoint(self, runner, checkpoint):
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write("saving\\n")
        """),
        encoding="utf-8",
    )
    model = {
        "type": "ClassifierModel",
        "backbone": {"type": "MLP", "in_features": 64, "num_classes": 10, "hidden_features": [1024, 1024]},
    }
    cfg = tiny_config(
        model=model,
        custom_imports={"imports": ["fault_probe"]},
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 200, "val_interval": 1000},
        default_hooks={"checkpoint": {"by_epoch": False, "interval": 1}, "logger": False},
        custom_hooks=[{"type": "SaveMarker", "log": str(log)}],
        work_dir=str(tmp_path / "run"),
    )
    config = tmp_path / "cfg.toml"
    config.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    seed = random.randrange(1 << 30)
    args = [str(config), str(tmp_path / "run"), str(log), "20", str(seed), "0.12"]
    done = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"seed {seed}: {done.stderr[-3000:]}"
    report = json.loads(done.stdout.splitlines()[-1])
    iterations = [kill["iter"] or 0 for kill in report]
    assert iterations == sorted(iterations), f"seed {seed}: {report}"  # never back to an older one
    assert iterations[-1] >= 10, report
    assert sum(bool(kill["unfinished"]) for kill in report) >= 3, (
        f"seed {seed}: kills missed the writes: {report}"
    )

    cfg["train_cfg"]["max_iters"] = iterations[-1] + 3
    config.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    finish = customrun(tmp_path, "train", str(config), "--resume")
    stdout, stderr = finish.communicate(timeout=120)
    assert finish.returncode == 0, stderr
    assert f"iter_{iterations[-1]}.pt (resumed)" in stdout
    assert not list((tmp_path / "run").glob(".*.tmp")), "a finished run leaves no unfinished file"


# -- damaged and unsafe checkpoint files -----------------------------------------------------


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def scribble(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:512] = bytes(512)
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def foreign(path: Path) -> None:
    torch.save([torch.zeros(3)], path)  # a torch file, not a customrun checkpoint


DAMAGE = {"truncated": truncate, "scribbled": scribble, "empty": empty, "foreign": foreign}


@pytest.fixture
def trained(customrun_config: Callable[..., Path], customrun_cli: Callable[..., Any], tmp_path: Path) -> Path:
    """A config whose deterministic run left work/epoch_1.pt and work/epoch_2.pt."""
    config = customrun_config(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        default_hooks={"logger": False},
        randomness=DETERMINISTIC,
    )
    result = customrun_cli("train", config)
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "work" / "last_checkpoint").read_text(encoding="utf-8") == "epoch_2.pt"
    return config


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_checkpoint_is_one_line_naming_the_file(
    trained: Path, customrun_cli: Callable[..., Any], tmp_path: Path, damage: str
) -> None:
    path = tmp_path / "work" / "epoch_2.pt"
    DAMAGE[damage](path)
    result = customrun_cli("train", trained, "--resume", path)
    assert result.exit_code == 2
    [line] = result.stderr_lines
    assert str(path) in line and "resume" in line


def test_resume_passes_over_a_damaged_newest_checkpoint_saying_so(
    trained: Path, customrun_cli: Callable[..., Any], tmp_path: Path
) -> None:
    """``--resume`` with the newest checkpoint truncated: a warning names it, the run resumes
    from epoch_1.pt and, deterministic, ends with the weights the damaged file held."""
    work = tmp_path / "work"
    intact = ckpt.load(work / "epoch_2.pt")["state_dict"]
    truncate(work / "epoch_2.pt")
    result = customrun_cli("train", trained, "--resume")
    assert result.exit_code == 0, result.stderr
    assert f"cannot resume from it: cannot read checkpoint {work / 'epoch_2.pt'}" in result.stdout
    assert f"loaded checkpoint {work / 'epoch_1.pt'} (resumed)" in result.stdout
    again = ckpt.load(work / "epoch_2.pt")["state_dict"]
    assert all(torch.equal(intact[k], again[k]) for k in intact)


def test_resume_with_no_loadable_checkpoint_is_one_line(
    trained: Path, customrun_cli: Callable[..., Any], tmp_path: Path
) -> None:
    for name in ("epoch_1.pt", "epoch_2.pt"):
        truncate(tmp_path / "work" / name)
    result = customrun_cli("train", trained, "--resume")
    assert result.exit_code == 2
    [line] = result.stderr_lines
    assert "no checkpoint of" in line and "epoch_1.pt" in line and "epoch_2.pt" in line


class Tripwire:
    """Unpickling this touches ``path``: what a malicious checkpoint would do with ``os.system``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_a_checkpoint_holding_python_objects_is_refused_not_unpickled(
    trained: Path, customrun_cli: Callable[..., Any], tmp_path: Path
) -> None:
    work, marker = tmp_path / "work", tmp_path / "unpickled"
    checkpoint = ckpt.load(work / "epoch_2.pt")
    checkpoint["meta"]["extra"] = Tripwire(marker)
    torch.save(checkpoint, work / "unsafe.pt")

    for args in (["--resume", work / "unsafe.pt"], ["--set", f'load_from="{work / "unsafe.pt"}"']):
        result = customrun_cli("train", trained, *args)
        assert result.exit_code == 2
        [line] = result.stderr_lines
        assert "unsafe.pt" in line and "Python objects" in line
    assert not marker.exists()
    torch.load(work / "unsafe.pt", weights_only=False)  # the control: a plain torch.load runs it
    assert marker.exists()


# -- non-finite losses ---------------------------------------------------------------------

POISON = """
from customrun_core import register
from customrun_core.hooks import Hook


@register("hooks")
class Poison(Hook):
    '''Makes iteration ``at`` (1-based) see NaN inputs; records every parameter after each iteration.'''

    def __init__(self, at):
        self.at, self.params = at, []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at:
            data_batch[0].fill_(float("nan"))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.params.append([p.detach().clone() for p in runner.model.parameters()])
"""


def nonfinite_run(tmp_path: Path, policy: str | None, probes: str = POISON, **changes: Any) -> Runner:
    """A run whose iteration 4 sees NaN inputs (``custom_hooks`` replaces that; ``probes`` is the
    code of the hooks' module)."""
    (tmp_path / "poison.py").write_text(probes, encoding="utf-8")
    cfg = tiny_config(
        custom_imports={"imports": ["poison"]},
        custom_hooks=changes.pop("custom_hooks", [{"type": "Poison", "at": 4}]),
        default_hooks={"logger": False, "checkpoint": False} | changes.pop("default_hooks", {}),
        **({} if policy is None else {"on_nonfinite": policy}),
        **changes,
    )
    (tmp_path / "cfg.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    return Runner.from_config("cfg.toml")


def poison(runner: Runner) -> Any:
    return next(h for h in runner.hooks.plugins if type(h).__name__ == "Poison")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, customrun_isolated: None) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_nonfinite_loss_stops_the_run_by_default_naming_iteration_and_terms(in_tmp: Path) -> None:
    runner = nonfinite_run(in_tmp, None)
    with pytest.raises(NonFiniteLossError, match=r"iteration 4: loss is nan \(loss=nan\)"):
        runner.train()
    assert len(poison(runner).params) == 3


def test_a_nonfinite_loss_is_one_line_and_exit_status_1(
    in_tmp: Path, customrun_cli: Callable[..., Any]
) -> None:
    nonfinite_run(in_tmp, "error")
    result = customrun_cli("train", "cfg.toml")
    assert result.exit_code == 1
    [line] = result.stderr_lines
    assert "iteration 4" in line and "on_nonfinite" in line


def test_skip_leaves_the_nonfinite_iteration_out(in_tmp: Path) -> None:
    """With SGD (momentum included) a skipped iteration changes no parameter; every other
    iteration does, and the parameters stay finite."""
    runner = nonfinite_run(in_tmp, "skip")
    runner.train()
    params = poison(runner).params
    assert all(torch.equal(a, b) for a, b in zip(params[2], params[3], strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(params[3], params[4], strict=True))
    assert all(torch.isfinite(p).all() for p in params[-1])
    assert runner.optim_wrapper.nonfinite_steps == 1


def test_skip_inside_an_accumulation_window_still_steps_on_the_rest(in_tmp: Path) -> None:
    """Iteration 4 ends a window of 2 (iterations 3 and 4): the step uses iteration 3's gradient
    alone, so the parameters change at 4 and stay finite."""
    runner = nonfinite_run(
        in_tmp, "skip", optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.1}, "accumulative_counts": 2}
    )
    runner.train()
    params = poison(runner).params
    assert all(torch.equal(a, b) for a, b in zip(params[1], params[2], strict=True))  # mid-window
    assert not any(torch.equal(a, b) for a, b in zip(params[2], params[3], strict=True))
    assert all(torch.isfinite(p).all() for p in params[-1])


def test_warn_logs_and_uses_the_loss(in_tmp: Path) -> None:
    runner = nonfinite_run(in_tmp, "warn")
    runner.train()
    log = (in_tmp / "work" / "run.log").read_text(encoding="utf-8")
    assert 'WARNING - iteration 4: loss is nan (loss=nan): used anyway (on_nonfinite = "warn")' in log
    assert not all(torch.isfinite(p).all() for p in poison(runner).params[3])


# -- what a run writes, and what a config can run ------------------------------------------------


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its mode and size (directories: size 0)."""
    return {
        str(path.relative_to(root)): (path.stat().st_mode, 0 if path.is_dir() else path.stat().st_size)
        for path in sorted(root.rglob("*"))
    }


def test_a_run_writes_only_its_work_directory_with_the_users_umask(tmp_path: Path) -> None:
    """With umask 027, everything the run creates is in work_dir, directories 0750 and files
    0640 (a checkpoint too, though written through a temporary file); the config's folder, the
    working directory, HOME and TMPDIR are left as they were (but for torch's own cache folder,
    which a hand-written loop creates too)."""
    places = {name: tmp_path / name for name in ("cfg", "cwd", "home", "tmp")}
    for place in places.values():
        place.mkdir()
    config = places["cfg"] / "run.toml"
    config.write_text(tomli_w.dumps(tiny_config(work_dir=str(tmp_path / "out" / "work"))), encoding="utf-8")
    before = {name: tree(place) for name, place in places.items()}
    env = {**os.environ, "HOME": str(places["home"]), "TMPDIR": str(places["tmp"])}
    done = subprocess.run(
        ["sh", "-c", 'umask 027 && exec "$0" -m customrun_core train "$1"', sys.executable, str(config)],
        cwd=places["cwd"], env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    after = {name: tree(place) for name, place in places.items()}
    # torch's own: importing torch._dynamo (building any optimizer does) makes its cache folder
    after["tmp"] = {
        name: value for name, value in after["tmp"].items() if not name.startswith("torchinductor_")
    }
    assert after == before
    written = tree(tmp_path / "out")
    assert {"work", "work/epoch_1.pt", "work/last_checkpoint", "work/run.log"} <= set(written)
    for name, (mode, _) in written.items():
        expected = 0o750 if (tmp_path / "out" / name).is_dir() else 0o640
        assert mode & 0o777 == expected, f"{name}: {oct(mode & 0o777)}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model.type", "__import__('os').system('touch pwned')"),
        ("model.type", "os:system"),
        ("optim_wrapper.optimizer.type", "subprocess.Popen"),
        ("train_dataloader.dataset.type", "builtins.eval"),
    ],
)
def test_a_config_names_components_it_cannot_run_code(
    customrun_config: Callable[..., Path],
    customrun_cli: Callable[..., Any],
    tmp_path: Path,
    key: str,
    value: str,
) -> None:
    """A ``type`` is looked up among registered components, never imported or evaluated."""
    config = customrun_config()
    result = customrun_cli("train", config, "--set", f"{key}={json.dumps(value)}")
    assert result.exit_code == 2
    [line] = result.stderr_lines
    assert key in line
    assert not (tmp_path / "pwned").exists()


def test_on_an_accelerator_losses_are_checked_in_batches_naming_the_right_iteration(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Off the CPU a per-iteration check would stall the GPU; there the losses are checked every
    ``nonfinite_check_every`` iterations and before every checkpoint (here forced on the CPU,
    every 5): the error still names iteration 4 and its loss terms."""
    from customrun_core.optim.wrapper import OptimWrapper

    monkeypatch.setattr(OptimWrapper, "_deferred_check", lambda self, loss: self.on_nonfinite != "skip")
    monkeypatch.setattr(OptimWrapper, "nonfinite_check_every", 5)
    runner = nonfinite_run(in_tmp, None)
    message = r"iteration 4: loss is nan \(loss=nan\) \(found at iteration 5: checked every 5 on cpu\)"
    with pytest.raises(NonFiniteLossError, match=message):
        runner.train()
    assert (
        len(poison(runner).params) == 4
    )  # iterations 1-4 ran; the check in 5, before its update, stopped it


def test_a_checkpoint_checks_the_losses_first(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from customrun_core.optim.wrapper import OptimWrapper

    monkeypatch.setattr(OptimWrapper, "_deferred_check", lambda self, loss: self.on_nonfinite != "skip")
    monkeypatch.setattr(OptimWrapper, "nonfinite_check_every", 1000)
    runner = nonfinite_run(in_tmp, "warn", default_hooks={"checkpoint": True})
    runner.train()  # one checkpoint, at the end of the epoch: the warnings come then
    log = (in_tmp / "work" / "run.log").read_text(encoding="utf-8")
    assert "iteration 4: loss is nan (loss=nan) (found at iteration" in log
    assert runner.optim_wrapper.nonfinite_steps >= 1


def test_processes_agree_on_a_stop_every_few_iterations_not_every_one(monkeypatch) -> None:
    """Under torchrun the stop flag costs one all-reduce per ``STOP_AGREEMENT_EVERY`` iterations;
    a signal on one process is acted on at the next agreement, by every process at once."""
    import logging

    from customrun_core import stopping

    peers_stopping = [0.0]  # what the other process contributes to the sum
    calls: list[int] = []
    iteration = 0

    def all_reduce_sum(values: list[float]) -> list[float]:
        calls.append(iteration)
        return [values[0] + peers_stopping[0]]

    monkeypatch.setattr(stopping.distributed, "all_reduce_sum", all_reduce_sum)
    stop = stopping.GracefulStop(world_size=2, logger=logging.getLogger("test"))
    every = stopping.STOP_AGREEMENT_EVERY
    decisions = []
    for iteration in range(1, 3 * every + 1):
        if iteration == every + 3:
            stop.signal = signal.SIGINT  # arrives on this process only
        decisions.append(stop.requested(iteration))
    assert calls == [every, 2 * every, 3 * every]
    assert [i + 1 for i, stopped in enumerate(decisions) if stopped] == [2 * every, 3 * every]

    stop.signal = None
    peers_stopping[0] = 1.0  # the other process got the signal
    iteration = 4 * every
    assert stop.requested(iteration)
    assert stop.signal == signal.SIGTERM
