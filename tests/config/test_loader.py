"""Reading configs: extends, --set overrides, validation of the top level, and `customrun config`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from customrun_core.cli import cli
from customrun_core.config import load_config
from customrun_core.config.loader import apply_overrides, merge, parse_override
from customrun_core.errors import ConfigError

BASE = """
model = { type = "ClassifierModel", backbone = { type = "MLP", in_features = 64, num_classes = 10 } }
optim_wrapper = { optimizer = { type = "SGD", lr = 0.1, momentum = 0.9 } }
custom_hooks = [{ type = "A" }]
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_merges_tables_and_replaces_arrays(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", BASE)
    child = write(
        tmp_path / "child.toml",
        'extends = ["base.toml"]\noptim_wrapper = { optimizer = { lr = 0.01 } }\ncustom_hooks = [{ type = "B" }]\n',
    )
    cfg = load_config(child)
    assert cfg.optim_wrapper == {"optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9}}
    assert cfg.custom_hooks == [{"type": "B"}]
    assert cfg.model["backbone"]["num_classes"] == 10


def test_delete_key_replaces_the_base_table() -> None:
    merged = merge(
        {"optimizer": {"type": "SGD", "momentum": 0.9}}, {"optimizer": {"_delete_": True, "type": "Adam"}}
    )
    assert merged == {"optimizer": {"type": "Adam"}}


def test_extends_in_a_subfolder_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "bases").mkdir()
    write(tmp_path / "bases" / "model.toml", BASE)
    write(tmp_path / "bases" / "mid.toml", 'extends = "model.toml"\ndevice = "cpu"\n')
    cfg = load_config(write(tmp_path / "top.toml", 'extends = ["bases/mid.toml"]\n'))
    assert cfg.device == "cpu" and cfg.model["type"] == "ClassifierModel"


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("train_cfg.max_epochs=3", ["train_cfg", "max_epochs"], 3),
        ("optim_wrapper.optimizer.lr=5e-2", ["optim_wrapper", "optimizer", "lr"], 0.05),
        ('device="cpu"', ["device"], "cpu"),
        ("work_dir=runs/a", ["work_dir"], "runs/a"),
        ("randomness.deterministic=true", ["randomness", "deterministic"], True),
        ("x.milestones=[7, 9]", ["x", "milestones"], [7, 9]),
        ("logger={interval = 1}", ["logger"], {"interval": 1}),
    ],
)
def test_set_values_use_toml_syntax(text: str, path: list[str], value: object) -> None:
    assert parse_override(text) == (path, value)


def test_set_reaches_into_arrays_by_index() -> None:
    data = apply_overrides({"custom_hooks": [{"type": "A", "a": 1}]}, ["custom_hooks.0.a=2"])
    assert data == {"custom_hooks": [{"type": "A", "a": 2}]}
    with pytest.raises(ConfigError, match=r"expected an index 0\.\.0"):
        apply_overrides(data, ["custom_hooks.3.a=2"])


def test_set_without_equals_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"expected KEY\.PATH=VALUE"):
        parse_override("train_cfg.max_epochs")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("train_cfg.max_epochs=[1", "Unclosed array"),
        ("default_hooks.logger={interval = 1", "Unclosed inline table"),
        ('work_dir="runs/a', "Unterminated string"),
        ("x.milestones=[7,, 9]", "Invalid value"),
    ],
)
def test_set_refuses_a_malformed_array_table_or_string(text: str, reason: str) -> None:
    """What starts as an array, a table or a quoted string must be valid TOML: it is not taken as a bare word."""
    key, _, raw = text.partition("=")
    with pytest.raises(ConfigError) as info:
        parse_override(text)
    assert str(info.value) == f"--set: {key}: invalid TOML value {raw!r}: {reason}"


def test_top_level_types_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config({"model": {"type": "M"}, "custom_hooks": {"type": "A"}})
    assert str(info.value) == "<config>: custom_hooks: expected an array of tables, got table {'type': 'A'}"
    with pytest.raises(ConfigError) as info:
        load_config({"model": {"type": "M"}, "randomness": {"sed": 1}})
    assert str(info.value) == "<config>: randomness.sed: unknown key (did you mean 'seed'?)"


def test_config_command_prints_toml_that_reads_back(tmp_path: Path) -> None:
    cfg_file = write(tmp_path / "c.toml", BASE)
    result = CliRunner().invoke(cli, ["config", str(cfg_file), "--set", "optim_wrapper.optimizer.lr=0.05"])
    assert result.exit_code == 0, result.output
    data = tomllib.loads(result.output)
    assert data["optim_wrapper"]["optimizer"]["lr"] == 0.05
    assert data["device"] == "auto"  # defaults are filled in
    again = CliRunner().invoke(cli, ["config", str(cfg_file), "--json"])
    assert json.loads(again.output)["optim_wrapper"]["optimizer"]["lr"] == 0.1
