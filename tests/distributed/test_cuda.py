"""The torchrun runs of test_torchrun.py on CUDA with NCCL, and with AmpOptimWrapper in float16.

Marked ``cuda``: skipped where torch sees no GPU. With one GPU the run is one process in a
process group of one (``launcher = "torchrun"``), which still goes through NCCL and DDP.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from customrun_core.testing import tiny_config

pytestmark = [pytest.mark.cuda, pytest.mark.slow]

PROBE = Path(__file__).with_name("probe_module.py")


def _nproc() -> int:
    return min(2, torch.cuda.device_count())


def _run(tmp_path: Path, name: str, cfg: dict[str, Any], nproc: int) -> dict[str, Any]:
    """Train ``cfg`` with torchrun on ``nproc`` processes; rank 0's probe record."""
    shutil.copy(PROBE, tmp_path / "probe.py")
    cfg = {**cfg, "work_dir": str(tmp_path / name), "device": "cuda", "launcher": "torchrun"}
    config = tmp_path / f"{name}.toml"
    config.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    done = subprocess.run(
        [*command, "-m", "customrun_core", "train", str(config)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return torch.load(tmp_path / name / "rank0.pt", weights_only=True)


def _config(optim_wrapper: dict[str, Any], batch_size: int) -> dict[str, Any]:
    cfg = tiny_config(
        custom_imports={"imports": ["probe"]},
        custom_hooks=[{"type": "RankProbe"}],
        optim_wrapper=optim_wrapper,
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
    )
    cfg["train_dataloader"]["batch_size"] = batch_size
    return cfg


def _relative_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].float() - b[k].float()).norm() / b[k].float().norm().clamp_min(1e-12)) for k in b)


@pytest.mark.parametrize("wrapper", ["DDP", "FSDP"])
def test_nccl_processes_end_like_one_process_of_the_global_batch(tmp_path: Path, wrapper: str) -> None:
    nproc = _nproc()
    sgd = {"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}}
    dist_cfg = {**_config(sgd, 32 // nproc), "model_wrapper_cfg": {"type": wrapper}}
    spread = _run(tmp_path, "nccl", dist_cfg, nproc)
    single = _run(tmp_path, "single", _config(sgd, 32), 1)
    assert spread["world_size"] == nproc and spread["iter"] == single["iter"]
    assert _relative_difference(spread["state_dict"], single["state_dict"]) < 1e-5
    assert spread["metrics"] == single["metrics"]


@pytest.mark.skipif(importlib.util.find_spec("customrun_amp") is None, reason="needs customrun-amp")
def test_amp_float16_under_ddp_trains_and_tracks_float32(tmp_path: Path) -> None:
    """float16 with dynamic loss scaling under DDP ends near the float32 run and learns."""
    nproc = _nproc()
    amp = {
        "type": "AmpOptimWrapper",
        "dtype": "float16",
        "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9},
    }
    half = _run(tmp_path, "amp", _config(amp, 32 // nproc), nproc)
    full = _run(tmp_path, "fp32", _config({"optimizer": amp["optimizer"]}, 32 // nproc), nproc)
    assert _relative_difference(half["state_dict"], full["state_dict"]) < 2e-2
    assert half["metrics"][-1]["accuracy/top1"] > 80.0
    assert abs(half["metrics"][-1]["accuracy/top1"] - full["metrics"][-1]["accuracy/top1"]) < 2.0


def test_sync_batchnorm_makes_processes_normalise_like_one(tmp_path: Path) -> None:
    """BatchNorm statistics over the global batch: with SyncBatchNorm N processes of B end like one
    of N * B; without it they normalise per process and end elsewhere (needs two GPUs)."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs two GPUs")
    sgd = {"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}}

    def with_bn(cfg: dict[str, Any]) -> dict[str, Any]:
        backbone = {
            "type": "MLP",
            "in_features": 64,
            "num_classes": 10,
            "hidden_features": [32],
            "batch_norm": True,
        }
        return {**cfg, "model": {**cfg["model"], "backbone": backbone}}

    synced = _run(tmp_path, "sync", {**with_bn(_config(sgd, 16)), "sync_bn": True}, 2)
    local = _run(tmp_path, "local", with_bn(_config(sgd, 16)), 2)
    single = _run(tmp_path, "single", with_bn(_config(sgd, 32)), 1)
    assert _relative_difference(synced["state_dict"], single["state_dict"]) < 1e-5
    assert _relative_difference(local["state_dict"], single["state_dict"]) > 1e-3
