"""``max_keep_ckpts`` across a resume (issue 20, item 13): the steps the CheckpointHook keeps are
hook state in every checkpoint (MMEngine's ``keep_ckpt_ids``), so a resumed run goes on removing
the oldest of them, and the work directory holds the newest N periodic checkpoints, as after one
uninterrupted run. Files the list does not name (from a run without ``max_keep_ckpts``, a stop's
``iter_N.pt``, a best checkpoint) are never removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from customrun_core import checkpoint as ckpt
from customrun_core.hooks.checkpoint import KEEP_KEY
from customrun_core.runner import Runner
from customrun_core.testing import tiny_config


def train(work: Path, epochs: int, keep: int, resume: bool = False, **hook: Any) -> None:
    cfg = tiny_config(
        work_dir=str(work),
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": epochs},
        default_hooks={"logger": False, "checkpoint": {"interval": 1, "max_keep_ckpts": keep, **hook}},
        randomness={"seed": 3, "deterministic": True},
        resume=resume,
    )
    Runner.from_config(cfg).train()


def periodic(work: Path) -> list[str]:
    return sorted(path.name for path in work.glob("epoch_*.pt"))


def test_a_resumed_run_removes_the_checkpoints_of_the_run_it_resumed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    train(work, epochs=4, keep=2)
    assert periodic(work) == ["epoch_3.pt", "epoch_4.pt"]
    assert ckpt.load(work / "epoch_4.pt")[KEEP_KEY] == [3, 4]  # the list as it is once the file is saved
    train(work, epochs=7, keep=2, resume=True)
    assert periodic(work) == ["epoch_6.pt", "epoch_7.pt"]  # MMEngine's: the newest 2, as without the stop

    straight = tmp_path / "straight"  # the uninterrupted run: same files, same weights (exact resume)
    train(straight, epochs=7, keep=2)
    assert periodic(straight) == periodic(work)
    resumed, uninterrupted = (ckpt.load(w / "epoch_7.pt")["state_dict"] for w in (work, straight))
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def test_files_the_list_does_not_name_stay(tmp_path: Path) -> None:
    """A run without max_keep_ckpts kept no list: its files are not this hook's to remove."""
    work = tmp_path / "work"
    train(work, epochs=2, keep=-1)
    assert KEEP_KEY not in ckpt.load(work / "epoch_2.pt")  # nothing added when pruning is off
    (work / "iter_5.pt").write_bytes((work / "epoch_1.pt").read_bytes())  # e.g. a stop's checkpoint
    train(work, epochs=5, keep=2, resume=True)
    assert periodic(work) == ["epoch_1.pt", "epoch_2.pt", "epoch_4.pt", "epoch_5.pt"]
    assert (work / "iter_5.pt").exists()


def test_a_shorter_limit_after_the_resume_takes_the_newest(tmp_path: Path) -> None:
    work = tmp_path / "work"
    train(work, epochs=3, keep=3)
    train(work, epochs=4, keep=1, resume=True)
    assert periodic(work) == ["epoch_4.pt"]
