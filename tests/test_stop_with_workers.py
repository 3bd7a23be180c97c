"""The graceful stop when the signal reaches more than the main process, and when it arrives during
a validation.

SLURM's ``scancel``, pre-emption and ``kill -- -PGID`` signal the whole process group, DataLoader
workers included. The run is started as its own process group (a session leader, as ``setsid``
makes it) and the group is signalled; the helpers (probe hook, config, waiting, weights) and the
uninterrupted reference run are test_faults.py's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from customrun_core import checkpoint as ckpt
from customrun_core.testing import tiny_config
from tests.test_faults import (
    DETERMINISTIC,
    ITER_CHECKPOINTS,
    ITER_LOOP,
    ITERATIONS,
    PROBE,
    assert_stopped_gracefully,
    final_weights,
    uninterrupted,
    wait_for,
)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

__all__ = ["uninterrupted"]  # the reference run is a fixture of test_faults.py, shared here

VALIDATION_PROBE = '''

@register("hooks")
class HoldValidation(Hook):
    """Writes "validating" to ``log`` at the first validation batch and waits there until the file
    ``release`` exists; writes "validated" after the validation's metrics and "saving" before each
    checkpoint, so the test knows the order of what followed the signal."""

    def __init__(self, log, release):
        self.log, self.release = Path(log), Path(release)

    def _write(self, line):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(line + "\\n")

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        if batch_idx == 0:
            self._write("validating")
            while not self.release.exists():
                time.sleep(0.02)

    def after_val_epoch(self, runner, metrics=None):
        self._write("validated " + json.dumps(metrics))

    def before_save_checkpoint(self, runner, checkpoint):
        self._write("saving")
'''


def start(directory: Path, cfg: dict[str, Any], *args: str) -> tuple[subprocess.Popen[str], Path]:
    """``customrun train`` on ``cfg`` (the probes importable) as the leader of its own process
    group, the way ``setsid`` starts it; the process and the config's path."""
    (directory / "fault_probe.py").write_text(PROBE + VALIDATION_PROBE, encoding="utf-8")
    config = directory / "cfg.toml"
    config.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")])),
    }
    env.pop("CUSTOMRUN_TRACEBACK", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "customrun_core", "train", str(config), *args],
        cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    return process, config


def signals_config(log: Path, workers: int, **probe: Any) -> dict[str, Any]:
    """test_faults.py's signal-test config (the same run as its uninterrupted reference), with
    ``workers`` DataLoader workers for training and validation and the probes added."""
    base = tiny_config()
    return tiny_config(
        custom_imports={"imports": ["fault_probe"]},
        randomness=DETERMINISTIC,
        train_cfg=ITER_LOOP,
        default_hooks=ITER_CHECKPOINTS,
        train_dataloader={**base["train_dataloader"], "num_workers": workers},
        val_dataloader={**base["val_dataloader"], "num_workers": workers},
        custom_hooks=[{"type": "Probe", "log": str(log), "delay": 0.05}, *probe.get("hooks", [])],
        work_dir="run",
    )


def resume_and_compare(
    directory: Path, config: Path, stopped_at: int, reference: dict[str, torch.Tensor]
) -> None:
    """``--resume`` goes on from ``iter_{stopped_at}.pt`` and ends with ``reference``'s weights."""
    resumed = subprocess.run(
        [sys.executable, "-m", "customrun_core", "train", str(config), "--resume"],
        cwd=directory, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(directory), os.environ.get("PYTHONPATH")]))},
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert f"iter_{stopped_at}.pt (resumed)" in resumed.stdout
    got = final_weights(directory / "run" / f"iter_{ITERATIONS}.pt")
    assert reference.keys() == got.keys()
    assert all(torch.equal(reference[k], got[k]) for k in got)


def test_sigterm_to_the_process_group_with_dataloader_workers_stops_gracefully(
    tmp_path: Path, uninterrupted: dict[str, torch.Tensor]
) -> None:
    """SIGTERM to the whole group while 2 workers load batches: the workers ignore it, the main
    process stops after the iteration with its checkpoint, exits 143 with one line (no DataLoader
    traceback), and the resumed run ends bit-identical to the uninterrupted run without workers."""
    log = tmp_path / "probe.log"
    run, config = start(tmp_path, signals_config(log, workers=2))
    wait_for(log, "iter 5", run)
    os.killpg(run.pid, signal.SIGTERM)
    _, stderr = run.communicate(timeout=120)

    stopped_at = assert_stopped_gracefully(run, stderr, signal.SIGTERM, log, tmp_path / "run")
    resume_and_compare(tmp_path, config, stopped_at, uninterrupted)


@pytest.mark.parametrize("workers", [0, 2], ids=["no-workers", "2-workers"])
def test_sigterm_during_the_final_validation_ends_the_run_stopped(
    tmp_path: Path, workers: int, uninterrupted: dict[str, torch.Tensor]
) -> None:
    """A SIGTERM to the group while the last validation runs (held at its first batch until the
    signal is sent): the validation finishes (its metrics are computed and logged), then the final
    position is saved again, after it, and the run exits 143 with one line, as after any stop. The
    resumed run has nothing left to train and ends with the uninterrupted run's weights."""
    log, release = tmp_path / "probe.log", tmp_path / "release"
    hold = {"type": "HoldValidation", "log": str(log), "release": str(release)}
    run, config = start(tmp_path, signals_config(log, workers, hooks=[hold]))
    lines = wait_for(log, "validating", run)
    assert f"iter {ITERATIONS}" in lines  # the final validation, after the last iteration
    os.killpg(run.pid, signal.SIGTERM)
    wait_for(log, "validating", run)  # the run is still alive
    release.touch()
    _, stderr = run.communicate(timeout=120)

    assert run.returncode == 128 + signal.SIGTERM, stderr
    [message] = stderr.strip().splitlines()
    assert "SIGTERM" in message and f"after iteration {ITERATIONS}" in message
    after = log.read_text(encoding="utf-8").splitlines()
    after = after[after.index("validating") + 1 :]
    assert after[0].startswith("validated ") and "accuracy" in after[0]  # the validation finished
    assert after[1:] == ["saving", "after_train", "after_run"]  # then the stop's checkpoint
    assert (tmp_path / "run" / "last_checkpoint").read_text(encoding="utf-8") == f"iter_{ITERATIONS}.pt"
    resume_and_compare(tmp_path, config, ITERATIONS, uninterrupted)


def test_a_worker_ignores_sigterm_and_sigint(tmp_path: Path) -> None:
    """In a DataLoader worker of a built loader, SIGTERM and SIGINT are ignored (what the main
    process receives decides), while the worker's seed is still torch's per-worker seed."""
    from customrun_core.datasets.loader import build_dataloader

    script = tmp_path / "worker_signals.py"
    script.write_text(
        textwrap.dedent("""
        import signal, sys, torch
        from torch.utils.data import get_worker_info

        class Probe(torch.utils.data.Dataset):
            def __len__(self):
                return 2

            def __getitem__(self, index):
                info = get_worker_info()
                return torch.tensor([signal.getsignal(signal.SIGTERM) == signal.SIG_IGN,
                                     signal.getsignal(signal.SIGINT) == signal.SIG_IGN,
                                     info.seed == torch.initial_seed()])
        """),
        encoding="utf-8",
    )
    sys.path.insert(0, str(tmp_path))
    try:
        from worker_signals import Probe  # type: ignore[import-not-found]

        cfg = {"batch_size": 1, "num_workers": 2, "dataset": {"type": "x"}}
        loader = build_dataloader(cfg, "train_dataloader", "cfg.toml", seed=0, dataset=Probe())
        assert [batch.tolist() for batch in loader] == [[[True, True, True]]] * 2
    finally:
        sys.path.remove(str(tmp_path))


SIGNAL_IN_VALIDATION = """
import os, signal

from customrun_core import register
from customrun_core.hooks import Hook


@register("hooks")
class SignalInValidation(Hook):
    '''Sends this process SIGTERM during the first validation; records each validation's epoch.'''

    def __init__(self):
        self.validated = []

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if batch_idx == 0 and not self.validated:
            os.kill(os.getpid(), signal.SIGTERM)

    def after_val_epoch(self, runner, metrics=None):
        self.validated.append(runner.epoch)
"""


def test_a_signal_during_a_validation_mid_run_stops_right_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, customrun_isolated: None
) -> None:
    """An epoch loop of 3, SIGTERM during epoch 1's validation: the validation finishes, no further
    iteration runs, epoch_1.pt is saved again after it and the run ends interrupted by SIGTERM."""
    from customrun_core.errors import TrainingInterrupted
    from customrun_core.runner import Runner

    monkeypatch.chdir(tmp_path)
    (tmp_path / "signal_in_validation.py").write_text(SIGNAL_IN_VALIDATION, encoding="utf-8")
    cfg = tiny_config(
        custom_imports={"imports": ["signal_in_validation"]},
        custom_hooks=[{"type": "SignalInValidation"}],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 3},
        default_hooks={"logger": False},
    )
    (tmp_path / "cfg.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    runner = Runner.from_config("cfg.toml")
    with pytest.raises(TrainingInterrupted, match="stopped by SIGTERM"):
        runner.train()
    hook = next(h for h in runner.hooks.plugins if type(h).__name__ == "SignalInValidation")
    assert hook.validated == [1]
    assert (runner.epoch, runner.iter) == (1, len(runner.train_dataloader))
    assert (tmp_path / "work" / "last_checkpoint").read_text(encoding="utf-8") == "epoch_1.pt"
    assert ckpt.load(tmp_path / "work" / "epoch_1.pt")["meta"]["iter"] == runner.iter


EXIT_WITH_WORKERS_ALIVE = """
import torch
from customrun_core.datasets.loader import build_dataloader

class Numbers(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, index):
        return torch.tensor([index])

cfg = {"batch_size": 1, "num_workers": 2, "dataset": {"type": "x"}}
loader = build_dataloader(cfg, "train_dataloader", "cfg.toml", seed=0, dataset=Numbers())
batches = iter(loader)
next(batches)
print("one batch", flush=True)
"""


def test_the_interpreter_exits_with_workers_still_alive(tmp_path: Path) -> None:
    """The workers ignore SIGTERM, so ``Process.terminate()`` does not end them: an interpreter
    leaving with an unfinished iterator (its workers alive) still exits at once (multiprocessing's
    exit handler terminates, then joins, the workers: it waited forever before they were killed)."""
    script = tmp_path / "exit_with_workers.py"
    script.write_text(EXIT_WITH_WORKERS_ALIVE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "one batch\n"
