"""customrun-lars as an installed plugin: found by its entry point, built from a config, trained."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import torch
from customrun_core import Runner, registry
from customrun_core.errors import ConfigError
from customrun_core.testing import tiny_config

from customrun_lars import LARS

README = Path(__file__).parent.parent / "README.md"


def readme_optim_wrapper() -> dict[str, Any]:
    """The ``optim_wrapper`` of the README's SimCLR config."""
    (block,) = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    return tomllib.loads(block)["optim_wrapper"]


def lars_config(tmp_path: Path, optim_wrapper: dict[str, Any]) -> dict[str, Any]:
    return tiny_config(
        train_cfg={"by_epoch": False, "max_iters": 3},
        optim_wrapper=optim_wrapper,
        work_dir=str(tmp_path / "work"),
    )


def test_the_entry_point_resolves_to_the_optimizer() -> None:
    registry.refresh()
    assert registry.resolve("optimizers", "LARS") is LARS
    assert registry.resolve("optimizers", "customrun-lars:LARS") is LARS


def test_importing_the_package_imports_nothing_but_torch() -> None:
    script = (
        "import sys, torch; before = set(sys.modules); import customrun_lars; "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before}))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['customrun_lars']"


def test_the_readme_config_is_simclr_s() -> None:
    optim_wrapper = readme_optim_wrapper()
    assert optim_wrapper["optimizer"] == {"type": "LARS", "lr": 0.3, "momentum": 0.9, "weight_decay": 1e-6}
    excluded = {"decay_mult": 0, "lars_exclude": True}
    assert optim_wrapper["paramwise_cfg"]["custom_keys"] == dict.fromkeys(
        ["bn", "bias", "downsample.1"], excluded
    )


@pytest.mark.filterwarnings("ignore:.*sets no parameter:UserWarning")  # bn, downsample.1: no such layers
def test_the_readme_config_trains_with_lars_exclude_groups(tmp_path: Path) -> None:
    """The digits MLP has biases but no norm layers: its biases are the excluded tensors."""
    runner = Runner.from_config(lars_config(tmp_path, readme_optim_wrapper()))
    initial = {name: p.detach().clone() for name, p in runner.model.named_parameters()}
    runner.train()
    optimizer = runner.optim_wrapper.optimizer
    assert type(optimizer) is LARS
    names = {id(p): name for name, p in runner.model.named_parameters()}
    for group in optimizer.param_groups:
        (param,) = group["params"]
        is_bias = names[id(param)].endswith(".bias")
        assert group.get("lars_exclude", False) is is_bias
        assert group["weight_decay"] == (0 if is_bias else 1e-6)
        assert "momentum_buffer" in optimizer.state[param]
    assert sum(g.get("lars_exclude", False) for g in optimizer.param_groups) == 2
    for name, param in runner.model.named_parameters():
        assert not torch.equal(param.detach(), initial[name]), name


@pytest.mark.parametrize(
    ("optimizer", "message"),
    [
        ({"lr": 0.3, "eta": -0.001}, "LARS refused its arguments: eta must be >= 0, got -0.001"),
        ({"lr": 0.3, "nesterov": True}, "LARS refused its arguments: nesterov = true needs momentum > 0"),
    ],
)
def test_a_refused_argument_is_a_config_error_at_its_key(
    tmp_path: Path, optimizer: dict[str, Any], message: str
) -> None:
    cfg = lars_config(tmp_path, {"optimizer": {"type": "LARS", **optimizer}})
    with pytest.raises(ConfigError) as error:
        Runner.from_config(cfg).train()
    text = str(error.value)
    assert "optim_wrapper.optimizer: " + message in text
    assert "\n" not in text
