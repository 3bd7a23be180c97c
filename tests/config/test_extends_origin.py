"""A key merged in from an ``extends`` base is named with its file, and ``_delete_ = true``
replaces a base table instead of merging into it (issue 21, item 8)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from click.testing import CliRunner

from customrun_core.cli import cli
from customrun_core.config import load_config

BASE = """
model = { type = "ClassifierModel", backbone = { type = "MLP", in_features = 64, num_classes = 10 } }
train_dataloader = { batch_size = 32, dataset = { type = "DigitsDataset", split = "train" } }
train_cfg = { type = "EpochBasedTrainLoop", max_epochs = 1 }

[optim_wrapper]
optimizer = { type = "SGD", lr = 0.1, momentum = 0.9 }
"""
ADAM_TAKES = (
    "Adam has no argument 'momentum' (it takes lr, betas, eps, weight_decay, amsgrad, foreach, maximize,"
    " capturable, differentiable, fused, decoupled_weight_decay)"
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def train_error(config: Path, *args: str) -> str:
    """The one line ``customrun train`` refuses ``config`` with (its work dir is never made)."""
    work = config.parent / "never"
    result = CliRunner().invoke(cli, ["train", str(config), "--work-dir", str(work), *args])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert not work.exists()
    return result.output.rstrip("\n")


def test_a_key_merged_from_a_base_names_the_base_and_delete(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "configs" / "base.toml", BASE)
    child = write(
        tmp_path / "configs" / "adam.toml",
        'extends = "base.toml"\noptim_wrapper.optimizer = {type = "Adam"}\n',
    )
    assert train_error(Path("configs/adam.toml")) == (
        f"error: configs/adam.toml: optim_wrapper.optimizer.momentum: {ADAM_TAKES}; momentum is from"
        " configs/base.toml, merged below configs/adam.toml's optim_wrapper.optimizer: _delete_ = true in"
        " configs/adam.toml's optim_wrapper.optimizer replaces the table instead of merging into it"
    )
    # what the line says to do works, and the table holds nothing of the base's
    write(child, 'extends = "base.toml"\noptim_wrapper.optimizer = {_delete_ = true, type = "Adam"}\n')
    assert load_config(child).optim_wrapper == {"optimizer": {"type": "Adam"}}
    result = CliRunner().invoke(cli, ["config", str(child), "--check"])
    assert result.exit_code == 0, result.output


def test_the_resolved_config_is_what_it_was(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", BASE)
    child = write(tmp_path / "c.toml", 'extends = "base.toml"\noptim_wrapper.optimizer = {type = "Adam"}\n')
    cfg = load_config(child)
    by_hand = tomllib.loads(BASE)
    by_hand["optim_wrapper"]["optimizer"]["type"] = "Adam"
    assert cfg.optim_wrapper == by_hand["optim_wrapper"] and cfg.model == by_hand["model"]
    assert "origins" not in cfg.to_dict()


def test_a_key_changed_by_set_next_to_a_kept_one_says_how_to_set_the_table(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", BASE)
    assert train_error(config, "--set", "optim_wrapper.optimizer.type=Adam") == (
        f"error: {config}: optim_wrapper.optimizer.momentum: {ADAM_TAKES}; momentum is from {config}, kept"
        " when --set changed other keys of optim_wrapper.optimizer: --set 'optim_wrapper.optimizer={...}'"
        " sets the whole table instead"
    )


def test_a_mistake_wholly_in_a_base_names_the_base(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", BASE.replace('type = "SGD"', 'type = "Adam"'))
    child = write(tmp_path / "c.toml", 'extends = "base.toml"\ntrain_cfg.max_epochs = 2\n')
    line = train_error(child)
    assert (
        line
        == f"error: {child}: optim_wrapper.optimizer.momentum: {ADAM_TAKES}; momentum is set in "
        + str(tmp_path / "base.toml")
    )


def test_a_nested_delete_without_a_base_table_is_dropped(tmp_path: Path) -> None:
    """``_delete_`` in a table the base does not have, inside one it does not have either, means
    nothing once merged: it must not reach the component as an argument."""
    write(tmp_path / "base.toml", BASE)
    child = write(
        tmp_path / "c.toml",
        'extends = "base.toml"\n[default_hooks]\ncheckpoint = { _delete_ = true, interval = 2 }\n',
    )
    assert load_config(child).default_hooks == {"checkpoint": {"interval": 2}}
