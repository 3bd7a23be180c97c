"""A torchmetrics evaluator under torchrun (Gloo, CPU): two processes on uneven, unpadded shards
of the validation data report what one process reports on all of it."""

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

pytest.importorskip("torchmetrics")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not dist.is_available() or not dist.is_gloo_available(),
        reason="torch.distributed with Gloo is unavailable",
    ),
]

PROBE = Path(__file__).parents[1] / "distributed" / "probe_module.py"
CLASSIFICATION = "torchmetrics.classification"
EVALUATOR = [
    {"type": f"{CLASSIFICATION}:MulticlassAccuracy", "num_classes": 10, "average": "micro"},
    {
        "type": "torchmetrics:MetricCollection",
        "metrics": {
            "macro_accuracy": {"type": f"{CLASSIFICATION}:MulticlassAccuracy", "num_classes": 10},
            "auroc": {"type": f"{CLASSIFICATION}:MulticlassAUROC", "num_classes": 10},  # states: every pred
        },
    },
]


def _config(work_dir: Path, batch_size: int) -> dict[str, Any]:
    cfg = tiny_config(
        custom_imports={"imports": ["probe"]},
        custom_hooks=[{"type": "RankProbe"}],
        val_dataloader={"batch_size": 64, "dataset": {"type": "DigitsDataset", "split": "val"}},
        val_evaluator=EVALUATOR,
        dist_cfg={"timeout": 60},
        work_dir=str(work_dir),
    )
    cfg["train_dataloader"]["batch_size"] = batch_size
    return cfg


def test_two_processes_on_uneven_shards_report_the_metrics_of_one_on_all_data(
    tmp_path: Path, customrun_run: Any
) -> None:
    shutil.copy(PROBE, tmp_path / "probe.py")
    config = tmp_path / "dist.toml"
    config.write_text(tomli_w.dumps(_config(tmp_path / "dist", 16)), encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*command, "-m", "customrun_core", "train", str(config)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    single = customrun_run(config=_config(tmp_path / "single", 32))
    reference = torch.load(single.work_dir / "rank0.pt", weights_only=True)["metrics"]

    assert sorted(reference[0]) == ["auroc", "macro_accuracy", "multiclass_accuracy"]
    for rank in range(2):  # the digits' 359 val samples: 180 on rank 0, 179 on rank 1
        record = torch.load(tmp_path / "dist" / f"rank{rank}.pt", weights_only=True)
        assert record["world_size"] == 2
        assert record["metrics"] == [pytest.approx(m, rel=1e-6) for m in reference], rank
