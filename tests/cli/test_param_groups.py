"""``customrun param-groups``: every trainable parameter with its group, as JSON or a table."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from click.testing import CliRunner, Result

from customrun_core.cli import cli
from customrun_core.testing import tiny_config

# The tiny MLP classifier: backbone.1 is Linear(64, 32), backbone.3 is Linear(32, 10).
CUSTOM = {
    "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4},
    "paramwise_cfg": {
        "custom_keys": {
            "backbone.1": {"lr_mult": 0.5, "lars_exclude": True},
            "bias": {"decay_mult": 0.0},
            "nothing": {"lr_mult": 2.0},
        }
    },
}


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Write a tiny config (with ``changes``) as ``cfg.toml`` in a fresh working directory."""
    monkeypatch.chdir(tmp_path)

    def write(**changes: Any) -> str:
        Path("cfg.toml").write_text(tomli_w.dumps(tiny_config(**changes)), encoding="utf-8")
        return "cfg.toml"

    return write


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, ["param-groups", *args])


def test_json_lists_each_parameter_with_its_group(write_config: Any) -> None:
    result = invoke(write_config(optim_wrapper=CUSTOM), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert list(report) == ["parameters", "unmatched_custom_keys"]
    # Keys tried longest first: 'backbone.1' (10), 'nothing' (7), 'bias' (4).
    first = {"lr": 0.05, "weight_decay": 1e-4, "extra": {"lr_mult": 0.5, "lars_exclude": True}}
    assert report["parameters"] == [
        {"name": "backbone.1.weight", "shape": [32, 64], "group": 0, **first},
        {"name": "backbone.1.bias", "shape": [32], "group": 1, **first},
        {
            "name": "backbone.3.weight",
            "shape": [10, 32],
            "group": 2,
            "lr": 0.1,
            "weight_decay": 1e-4,
            "extra": {},
        },
        {
            "name": "backbone.3.bias",
            "shape": [10],
            "group": 3,
            "lr": 0.1,
            "weight_decay": 0.0,
            "extra": {"decay_mult": 0.0},
        },
    ]
    assert report["unmatched_custom_keys"] == ["nothing"]
    assert result.stderr == (
        "warning: optim_wrapper.paramwise_cfg.custom_keys.nothing: sets no parameter: "
        "no trainable parameter's name contains it\n"
    )
    assert not Path("work").exists()  # nothing written: no work directory


def test_without_paramwise_cfg_every_parameter_is_in_group_zero(write_config: Any) -> None:
    result = invoke(write_config(), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["parameters"]
    assert [(r["name"], r["group"], r["lr"], r["weight_decay"], r["extra"]) for r in rows] == [
        ("backbone.1.weight", 0, 0.1, 0, {}),
        ("backbone.1.bias", 0, 0.1, 0, {}),
        ("backbone.3.weight", 0, 0.1, 0, {}),
        ("backbone.3.bias", 0, 0.1, 0, {}),
    ]


def test_a_group_entry_that_changes_an_optimizer_default_is_shown(write_config: Any) -> None:
    cfg = {
        "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9},
        "paramwise_cfg": {"custom_keys": {"bias": {"momentum": 0.0}}},
    }
    result = invoke(write_config(optim_wrapper=cfg), "--json")
    rows = json.loads(result.stdout)["parameters"]
    assert [r["extra"] for r in rows] == [{}, {"momentum": 0.0}, {}, {"momentum": 0.0}]


def test_table_mode_shows_every_parameter(write_config: Any) -> None:
    result = invoke(write_config(optim_wrapper=CUSTOM))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["parameter", "shape", "group", "lr", "weight_decay", "extra"]
    assert lines[1].split()[:5] == ["backbone.1.weight", "32x64", "0", "0.05", "0.0001"]
    assert "lars_exclude=true" in result.stdout
    assert lines[-1] == "custom keys that set no parameter: 'nothing'"


def test_set_overrides_apply(write_config: Any) -> None:
    result = invoke(write_config(optim_wrapper=CUSTOM), "--json", "--set", "optim_wrapper.optimizer.lr=1.0")
    assert [r["lr"] for r in json.loads(result.stdout)["parameters"]] == [0.5, 0.5, 1.0, 1.0]


def test_a_config_mistake_is_one_error_line(write_config: Any) -> None:
    cfg = {**CUSTOM, "paramwise_cfg": {"bias_decay": 0.0}}
    result = invoke(write_config(optim_wrapper=cfg), "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: cfg.toml: optim_wrapper.paramwise_cfg.bias_decay: unknown key (did you mean 'bias_decay_mult'?)\n"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--set", "optim_wrapper={}"), "cfg.toml: optim_wrapper.optimizer: required key is missing"),
        (
            ("--set", "optim_wrapper.optimizer.type=SDG"),
            "--set: optim_wrapper.optimizer.type: unknown optimizer 'SDG'",  # named as it came (issue 21, item 6)
        ),
        (("--set", "model.backbone.type=MPL"), "--set: model.backbone.type: unknown model 'MPL'"),
    ],
)
def test_errors_of_the_optimizer_and_model_tables(
    write_config: Any, args: tuple[str, ...], line: str
) -> None:
    result = invoke(write_config(), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {line}")


def test_a_config_without_optim_wrapper_is_an_error(write_config: Any) -> None:
    path = write_config()
    Path(path).write_text(tomli_w.dumps({"model": tiny_config()["model"]}), encoding="utf-8")
    result = invoke(path)
    assert result.exit_code == 2
    assert result.stderr == "error: cfg.toml: optim_wrapper: required to list parameter groups\n"


TIED_MODEL = """\
from torch import nn

from customrun_core.registry import register


@register("models")
class ParamGroupsTiedModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(3, 3, bias=False)
        self.out = nn.Linear(3, 3)
        self.out.weight = self.embed.weight
        self.frozen = nn.Linear(3, 3)
        self.frozen.requires_grad_(False)
"""


@pytest.fixture
def tied_model(tmp_path: Path) -> Any:
    (tmp_path / "param_groups_tied.py").write_text(textwrap.dedent(TIED_MODEL), encoding="utf-8")
    yield {"imports": ["param_groups_tied"]}
    sys.modules.pop("param_groups_tied", None)


def test_shared_parameter_error_names_the_key_path(write_config: Any, tied_model: Any) -> None:
    cfg = {"optimizer": {"type": "SGD", "lr": 0.1}, "paramwise_cfg": {"bias_lr_mult": 2.0}}
    path = write_config(model={"type": "ParamGroupsTiedModel"}, custom_imports=tied_model, optim_wrapper=cfg)
    result = invoke(path)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "error: cfg.toml: optim_wrapper.paramwise_cfg: 'out.weight' is the same parameter as 'embed.weight', "
        "and one parameter cannot be in two groups (set paramwise_cfg.bypass_duplicate = true to keep only the first)"
    )
    result = invoke(path, "--json", "--set", "optim_wrapper.paramwise_cfg.bypass_duplicate=true")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["parameters"]
    assert [(r["name"], r["group"], r["lr"]) for r in rows] == [
        ("embed.weight", 0, 0.1),
        ("out.bias", 1, 0.2),
    ]
    assert result.stderr.splitlines() == [
        "warning: optim_wrapper.paramwise_cfg: 'out.weight' is the same parameter as 'embed.weight'; "
        "skipped (bypass_duplicate = true)",
        "warning: optim_wrapper.paramwise_cfg: 2 parameter(s) with requires_grad = False left out of the "
        "optimizer: frozen.weight, frozen.bias",
    ]
    table = invoke(path, "--set", "optim_wrapper.paramwise_cfg.bypass_duplicate=true")
    assert table.stdout.splitlines()[-1] == "2 frozen parameter(s) (requires_grad = false) not shown"


def test_one_optimizer_per_submodule_names_it(write_config: Any) -> None:
    per_member = {
        "backbone": {"optimizer": {"type": "SGD", "lr": 0.1}, "paramwise_cfg": {"bias_lr_mult": 2.0}}
    }
    result = invoke(write_config(optim_wrapper=per_member), "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["parameters"]
    assert [(r["name"], r["optimizer"], r["group"], r["lr"]) for r in rows] == [
        ("backbone.1.weight", "backbone", 0, 0.1),
        ("backbone.1.bias", "backbone", 1, 0.2),
        ("backbone.3.weight", "backbone", 2, 0.1),
        ("backbone.3.bias", "backbone", 3, 0.2),
    ]
