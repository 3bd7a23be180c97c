"""End to end: the bundled digits example trains, logs, checkpoints and tests through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from customrun_core.cli import cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits.toml"


def test_digits_example_trains_and_the_checkpoint_reproduces_validation(tmp_path: Path) -> None:
    work = tmp_path / "d1"
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(EXAMPLE), "--work-dir", str(work)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (work / "scalars.jsonl").read_text().splitlines()]
    train = [r for r in records if r["mode"] == "train"]
    val = [r for r in records if r["mode"] == "val"]
    assert [r["epoch"] for r in val] == list(range(1, 11))
    # The loss falls: the last logged window is far below the first (ln 10 = 2.30 at the start).
    assert train[0]["loss"] > 1.5
    assert train[-1]["loss"] < 0.3
    assert val[-1]["accuracy/top1"] >= 95.0
    assert (work / "last_checkpoint").read_text() == "epoch_10.pt"
    assert (work / "config.toml").is_file()

    tested = runner.invoke(
        cli, ["test", str(EXAMPLE), "--checkpoint", str(work / "epoch_10.pt"), "--work-dir", str(work)]
    )
    assert tested.exit_code == 0, tested.output
    metrics = json.loads(tested.output.strip().splitlines()[-1])
    # The test split is held out (issue 21, item 4; it was the val split): the checkpoint's accuracy
    # on sklearn's images at the test split's positions (the permutation's 180th to 358th), counted here.
    import torch
    from sklearn.datasets import load_digits

    weights = torch.load(work / "epoch_10.pt", weights_only=True)["state_dict"]
    index = torch.randperm(1797, generator=torch.Generator().manual_seed(0))[180:359]
    digits = load_digits()
    images = torch.as_tensor(digits.data[index], dtype=torch.float32) / 16.0
    hidden = torch.relu(images @ weights["backbone.1.weight"].T + weights["backbone.1.bias"])
    predicted = (hidden @ weights["backbone.3.weight"].T + weights["backbone.3.bias"]).argmax(1)
    correct = (predicted == torch.as_tensor(digits.target[index])).sum().item()
    assert metrics["accuracy/top1"] == pytest.approx(100 * correct / 179, abs=1e-9)
