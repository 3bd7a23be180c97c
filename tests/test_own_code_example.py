"""examples/own-code: a plain nn.Module and a plain Dataset beside a config, a torchmetrics evaluator,
trained by `customrun train` from another directory; the logged accuracy is checked by hand."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from customrun_core import checkpoint
from customrun_core.cli import cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-code"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torchmetrics") is None, reason="needs torchmetrics")


def _module(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"own_code_{name}", EXAMPLE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_own_code_trains_from_another_directory_and_logs_the_right_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the example's folder: its modules are found beside the config
    work = tmp_path / "work"
    result = CliRunner().invoke(
        cli,
        ["train", str(EXAMPLE / "train.toml"), "--work-dir", str(work), "--set", "train_cfg.max_epochs=2"],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (work / "scalars.jsonl").read_text().splitlines()]
    logged = [r["multiclass_accuracy"] for r in records if r["mode"] == "val"]
    assert len(logged) == 2

    model = _module("model").BlobNet(hidden=32)
    model.load_state_dict(torch.load(checkpoint.latest(work), weights_only=True)["state_dict"])
    data = _module("data").Blobs(size=200, seed=1)
    with torch.no_grad():
        predicted = model(data.points).argmax(dim=1)
    assert logged[-1] == pytest.approx(float((predicted == data.targets).float().mean()), abs=1e-6)
