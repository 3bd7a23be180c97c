"""End to end: the bundled digits example trains, logs, checkpoints and tests through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert metrics["accuracy/top1"] == val[-1]["accuracy/top1"]
