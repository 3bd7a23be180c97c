"""The CPU-tested speed and fault paths, on CUDA: ``compile`` with inductor, ``pin_memory = "auto"``,
the batched non-finite check, and DDP over two processes sharing one GPU.

Marked ``cuda``: skipped where torch sees no GPU (every CI machine); ``benchmarks/cuda/check.sh``
runs them on a lent GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from customrun_core import Hook, Runner, assembly, register
from customrun_core.config import load_config
from customrun_core.errors import NonFiniteLossError
from customrun_core.testing import tiny_config

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def _weights(runner: Runner) -> dict[str, torch.Tensor]:
    return {k: v.detach().float().cpu() for k, v in runner.model.state_dict().items()}


def test_compile_with_inductor_trains_like_eager_on_cuda(tmp_path: Path) -> None:
    """One epoch with ``compile = true`` (inductor) ends where the eager run ends, up to float
    reassociation."""
    runs = {}
    for compiled in (False, True):
        cfg = tiny_config(device="cuda", compile=compiled, work_dir=str(tmp_path / str(compiled)))
        runner = Runner.from_config(cfg)
        runner.train()
        runs[compiled] = _weights(runner)
    for name, eager in runs[False].items():
        assert torch.allclose(runs[True][name], eager, rtol=1e-3, atol=1e-4), name


def test_pin_memory_auto_pins_the_batches_of_a_cuda_run() -> None:
    cfg = load_config(tiny_config(device="cuda"))
    loader = assembly.build_dataloader(cfg, "train", seed=0, device=torch.device("cuda"))
    inputs, _ = next(iter(loader))
    assert loader.pin_memory and inputs.is_pinned()


class Poison(Hook):
    """Makes iteration ``at`` (1-based) see NaN inputs."""

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        if runner.iter + 1 == self.at:
            data_batch[0].fill_(float("nan"))


def test_a_nonfinite_loss_on_cuda_is_found_by_the_batched_check(
    tmp_path: Path, customrun_isolated: None
) -> None:
    """Off the CPU the losses are checked in batches (no sync per iteration): the run still stops
    with the iteration that went wrong, at the latest at the next batched check."""
    register("hooks", "Poison")(Poison)
    cfg = tiny_config(
        device="cuda",
        custom_hooks=[{"type": "Poison", "at": 4}],
        default_hooks={"logger": False, "checkpoint": False},
        work_dir=str(tmp_path / "w"),
    )
    runner = Runner.from_config(cfg)
    with pytest.raises(NonFiniteLossError, match=r"iteration 4: loss is nan"):
        runner.train()
    assert runner.iter <= 4 + runner.optim_wrapper.nonfinite_check_every


def test_ddp_over_two_processes_sharing_one_gpu_with_gloo(tmp_path: Path) -> None:
    """NCCL refuses two processes on one device, so with one GPU the two-process DDP run uses
    Gloo (``dist_cfg.backend = "gloo"``), which all-reduces CUDA tensors through the host: 2 x 16
    ends like 1 x 32."""
    sgd = {"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}}
    finals = {}
    for nproc, batch in ((2, 16), (1, 32)):
        cfg = tiny_config(
            optim_wrapper=sgd,
            device="cuda",
            launcher="torchrun",
            dist_cfg={"backend": "gloo"},
            train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 1},
            default_hooks={"checkpoint": {"interval": 1}},
            work_dir=str(tmp_path / f"n{nproc}"),
        )
        cfg["train_dataloader"]["batch_size"] = batch
        config = tmp_path / f"n{nproc}.toml"
        config.write_text(tomli_w.dumps(cfg), encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(nproc),
        ]
        done = subprocess.run(
            [*command, "-m", "customrun_core", "train", str(config)],
            cwd=tmp_path, env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        finals[nproc] = torch.load(tmp_path / f"n{nproc}" / "epoch_1.pt", weights_only=True)["state_dict"]
    for name, single in finals[1].items():
        spread = finals[2][name].float()
        assert float((spread - single.float()).norm() / single.float().norm().clamp_min(1e-12)) < 1e-5, name
