"""``customrun test`` never touches what a training wrote (issue 21, item 2): it writes its config, log
and metrics into a folder of its own, ``WORK_DIR/test_<YYYYmmdd_HHMMSS>/``, and ``customrun train
WORK_DIR/config.toml --resume`` still goes on with the training run afterwards."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import tomli_w

from customrun_core.testing import CliResult
from customrun_core.testkit import tiny_config


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (relative path) with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def trained(tmp_path: Path, customrun_cli: Callable[..., CliResult]) -> tuple[Path, Path]:
    """A config of 5 epochs without ``work_dir`` (MMEngine's default work dir), trained for 2 with
    ``--set`` and keeping a best checkpoint: the config and the work directory."""
    cfg = tiny_config(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 5},
        default_hooks={"checkpoint": {"interval": 1, "save_best": "auto"}},
    )
    del cfg["work_dir"]
    source = tmp_path / "digits.toml"
    source.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    result = customrun_cli("train", source, "--set", "train_cfg.max_epochs=2")
    assert result.exit_code == 0, result.stderr
    return source, tmp_path / "work_dirs" / "digits"


def test_test_leaves_the_training_files_byte_identical(
    tmp_path: Path, customrun_cli: Callable[..., CliResult]
) -> None:
    source, work = trained(tmp_path, customrun_cli)
    before = snapshot(work)
    assert {"config.toml", "scalars.jsonl", "run.log", "last_checkpoint", "best_checkpoints.json"} <= set(
        before
    )

    tested = customrun_cli("test", source, "--checkpoint", work / "epoch_2.pt")
    assert tested.exit_code == 0, tested.stderr
    printed = json.loads(tested.stdout.splitlines()[-1])

    after = snapshot(work)
    assert {name: after.get(name) for name in before} == before  # not one byte of the training changed
    [folder] = {Path(name).parts[0] for name in set(after) - set(before)}  # all new files in one folder
    assert re.fullmatch(r"test_\d{8}_\d{6}", folder)
    evaluation = work / folder
    assert {"config.toml", "run.log", "metrics.json"} <= {p.name for p in evaluation.iterdir()}
    assert json.loads((evaluation / "metrics.json").read_text(encoding="utf-8")) == printed
    written = tomllib.loads((evaluation / "config.toml").read_text(encoding="utf-8"))
    assert written["load_from"] == str(work / "epoch_2.pt")
    assert "customrun test" in (evaluation / "run.log").read_text(encoding="utf-8")

    again = customrun_cli("test", source, "--checkpoint", work / "epoch_1.pt")
    assert again.exit_code == 0, again.stderr
    assert {name: snapshot(work).get(name) for name in after} == after  # nor of the first evaluation

    # the training's config still says 2 epochs: its resume goes on from epoch 2 and has nothing left
    resumed = customrun_cli("train", work / "config.toml", "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "epoch_2.pt (resumed)" in resumed.stdout
    assert not (work / "epoch_3.pt").exists()
