"""Real torchrun runs on the CPU with Gloo: two processes against one with the global batch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch
from torch import distributed as dist

from customrun_core.testing import tiny_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not dist.is_available() or not dist.is_gloo_available(),
        reason="torch.distributed with Gloo is unavailable",
    ),
]

PROBE = Path(__file__).with_name("probe_module.py")
TIMEOUT = 120


def _config(optimizer: dict[str, Any], model: str = "ClassifierModel", **changes: Any) -> dict[str, Any]:
    defaults = {
        "custom_imports": {"imports": ["probe"]},
        "custom_hooks": [{"type": "RankProbe"}],
        "optim_wrapper": {"optimizer": optimizer},
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 2},
        "val_dataloader": {"batch_size": 64, "dataset": {"type": "DigitsDataset", "split": "val"}},
        "dist_cfg": {"timeout": 60},
    }
    cfg = tiny_config(**{**defaults, **changes})
    cfg["model"]["type"] = model
    return cfg


def _torchrun(
    tmp_path: Path, cfg: dict[str, Any], *args: str, nproc: int = 2
) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc-per-node NPROC -m customrun_core train`` with ``cfg`` in ``tmp_path``."""
    shutil.copy(PROBE, tmp_path / "probe.py")
    config = tmp_path / "dist.toml"
    config.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    command += ["-m", "customrun_core", "train", str(config), *args]
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def _ranks(work_dir: Path, nproc: int = 2) -> list[dict[str, Any]]:
    return [torch.load(work_dir / f"rank{r}.pt", weights_only=True) for r in range(nproc)]


def _relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k] - b[k]).norm() / b[k].norm().clamp_min(1e-12)) for k in b)


@pytest.mark.parametrize(
    ("optimizer", "model"),
    [
        ({"type": "SGD", "lr": 0.1, "momentum": 0.9}, "ClassifierModel"),
        ({"type": "AdamW", "lr": 0.01, "weight_decay": 0.01}, "OwnStepClassifier"),
    ],
    ids=["sgd-base-train-step", "adamw-own-train-step"],
)
def test_two_processes_of_16_end_like_one_of_32(
    tmp_path: Path, customrun_run: Any, optimizer: dict[str, Any], model: str
) -> None:
    dist_cfg = _config(
        optimizer, model, train_dataloader={**tiny_config()["train_dataloader"], "batch_size": 16}
    )
    done = _torchrun(tmp_path, {**dist_cfg, "work_dir": str(tmp_path / "dist")})
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.copy(PROBE, tmp_path / "probe.py")
    single_cfg = _config(
        optimizer, model, train_dataloader={**tiny_config()["train_dataloader"], "batch_size": 32}
    )
    single = customrun_run(config={**single_cfg, "work_dir": str(tmp_path / "single")})
    reference = torch.load(single.work_dir / "rank0.pt", weights_only=True)

    rank0, rank1 = _ranks(tmp_path / "dist")
    assert rank0["wrapped"] and rank0["world_size"] == 2 and rank0["iter"] == reference["iter"] == 90
    assert _relative_difference(rank0["state_dict"], reference["state_dict"]) < 1e-6
    assert _relative_difference(rank1["state_dict"], reference["state_dict"]) < 1e-6
    # Each process validates its unpadded shard (180 and 179 samples); the counts are summed.
    assert rank0["metrics"] == rank1["metrics"] == reference["metrics"]
    assert len(rank0["metrics"]) == 2
    assert (rank0["saves"], rank1["saves"]) == (2, 0)
    dist_lines = (tmp_path / "dist" / "scalars.jsonl").read_text().splitlines()
    single_lines = (single.work_dir / "scalars.jsonl").read_text().splitlines()
    assert len(dist_lines) == len(single_lines)


def test_two_processes_resume_from_one_checkpoint(tmp_path: Path, customrun_run: Any) -> None:
    cfg = _config({"type": "SGD", "lr": 0.1, "momentum": 0.9}, work_dir=str(tmp_path / "dist"))
    cfg["train_dataloader"]["batch_size"] = 16
    first = _torchrun(tmp_path, {**cfg, "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 1}})
    assert first.returncode == 0, first.stdout + first.stderr
    resumed = _torchrun(tmp_path, cfg, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    single_cfg = _config({"type": "SGD", "lr": 0.1, "momentum": 0.9}, work_dir=str(tmp_path / "single"))
    single_cfg["train_dataloader"]["batch_size"] = 32
    customrun_run(config=single_cfg)
    reference = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)

    rank0, rank1 = _ranks(tmp_path / "dist")
    assert rank0["iter"] == rank1["iter"] == 90
    assert rank1["metrics"] == rank0["metrics"] == reference["metrics"][1:]
    for rank in (rank0, rank1):
        assert _relative_difference(rank["state_dict"], reference["state_dict"]) < 1e-6


def test_an_error_in_one_process_ends_the_run_with_that_error(tmp_path: Path) -> None:
    cfg = _config({"type": "SGD", "lr": 0.1}, custom_hooks=[{"type": "RankProbe", "fail_at": 3}])
    cfg["dist_cfg"] = {"timeout": 20}
    done = _torchrun(tmp_path, cfg)  # within TIMEOUT, or subprocess raises
    assert done.returncode != 0
    assert "RuntimeError: probe failure on rank 1" in done.stdout + done.stderr
    assert not (tmp_path / "work" / "epoch_2.pt").exists()


def _batch(cfg: dict[str, Any], size: int, drop_last: bool = False) -> dict[str, Any]:
    return {
        **cfg,
        "train_dataloader": {**cfg["train_dataloader"], "batch_size": size, "drop_last": drop_last},
    }


FSDP = {"type": "FSDP", "shard_modules": ["Linear"]}
ADAMW = {"type": "AdamW", "lr": 0.01, "weight_decay": 0.01}


def test_fsdp_two_processes_accumulating_end_like_one_and_write_one_sharded_checkpoint(
    tmp_path: Path, customrun_run: Any
) -> None:
    """With accumulation over 2 iterations: gradients are reduce-scattered on every second only."""
    accumulating = {"optimizer": ADAMW, "accumulative_counts": 2}
    cfg = _config(ADAMW, model_wrapper_cfg=FSDP, optim_wrapper=accumulating, work_dir=str(tmp_path / "fsdp"))
    done = _torchrun(tmp_path, _batch(cfg, 16))
    assert done.returncode == 0, done.stdout + done.stderr
    single = customrun_run(config=_batch({**cfg, "work_dir": str(tmp_path / "single")}, 32))
    reference = torch.load(single.work_dir / "rank0.pt", weights_only=True)

    rank0, rank1 = _ranks(tmp_path / "fsdp")
    assert not rank0["wrapped"] and rank0["world_size"] == 2  # FSDP shards the model in place
    for rank in (rank0, rank1):
        assert _relative_difference(rank["state_dict"], reference["state_dict"]) < 1e-6
        assert rank["metrics"] == reference["metrics"]
    assert (rank0["saves"], rank1["saves"]) == (2, 2)  # every process writes its shard
    last = (tmp_path / "fsdp" / "last_checkpoint").read_text()
    assert last == "epoch_2.dcp"
    shards = sorted(p.name for p in (tmp_path / "fsdp" / last).iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp", "extra.pt"]
    assert not list((tmp_path / "fsdp").glob(".*.tmp"))


@pytest.mark.parametrize("nproc", [1, 4])
def test_fsdp_checkpoint_of_two_processes_resumes_on_another_number(
    tmp_path: Path, customrun_run: Any, nproc: int
) -> None:
    """Two processes of 16 train one epoch; NPROC processes of 32 / NPROC resume for the second
    (one process without a process group or FSDP). The weights end as one process's of 32.

    Whole batches only: the digits' 1437 training samples do not split evenly over 4 processes,
    and DistributedSampler would pad the last batch with repeated samples."""
    cfg = _config(ADAMW, model_wrapper_cfg=FSDP, work_dir=str(tmp_path / "fsdp"))
    one_epoch = {**cfg, "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 1}}
    first = _torchrun(tmp_path, _batch(one_epoch, 16, drop_last=True))
    assert first.returncode == 0, first.stdout + first.stderr
    resumed = _torchrun(tmp_path, _batch(cfg, 32 // nproc, drop_last=True), "--resume", nproc=nproc)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    customrun_run(config=_batch({**cfg, "work_dir": str(tmp_path / "single")}, 32, drop_last=True))
    reference = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)

    for rank in _ranks(tmp_path / "fsdp", nproc):
        assert rank["iter"] == 88 and rank["world_size"] == nproc
        assert _relative_difference(rank["state_dict"], reference["state_dict"]) < 1e-6
        assert rank["metrics"] == reference["metrics"][1:]
