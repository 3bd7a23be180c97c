"""Through the command line: a missing mlflow and wrong arguments are one line and exit status 2."""

from __future__ import annotations

import sys

import pytest
from customrun_core import registry

pytest.importorskip("customrun_mlflow", reason="customrun-mlflow is not installed here: tox -e mlflow")


def test_a_missing_mlflow_is_one_line_with_the_install_command(
    customrun_cli, customrun_config, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what importlib finds when it is not installed
    config = customrun_config(custom_hooks=[{"type": "MLflowLoggerHook"}])
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert len(result.stderr_lines) == 1
    line = result.stderr_lines[0]
    assert line.startswith(f"error: {config}: custom_hooks")
    assert line.endswith("MLflowLoggerHook needs mlflow, which is not installed: pip install mlflow")


def test_an_uninstalled_plugin_names_its_distribution() -> None:
    assert registry.FIRST_PARTY[("hooks", "MLflowLoggerHook")] == "customrun-mlflow"


@pytest.mark.parametrize(
    ("arguments", "key"),
    [
        ({"tags": "vision"}, "tags"),
        ({"exp_name": 3}, "exp_name"),
        ({"artifact_suffix": [1]}, "artifact_suffix"),
        ({"log_checkpoint": "yes"}, "log_checkpoint"),
        ({"exp_name": ""}, "exp_name"),
    ],
)
def test_a_wrong_argument_is_one_line(customrun_cli, customrun_config, arguments, key) -> None:
    config = customrun_config(custom_hooks=[{"type": "MLflowLoggerHook", **arguments}])
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert len(result.stderr_lines) == 1
    assert result.stderr_lines[0].startswith(f"error: {config}: custom_hooks[0].{key}: expected ")


def test_an_unknown_tracked_config_key_is_one_line_with_the_closest(
    customrun_cli, customrun_config, tracking_uri
) -> None:
    hook = {"type": "MLflowLoggerHook", "tracking_uri": tracking_uri, "tracked_config_keys": ["optim_wraper"]}
    config = customrun_config(custom_hooks=[hook])
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert len(result.stderr_lines) == 1
    line = result.stderr_lines[0]
    assert line.startswith(f"error: {config}: MLflowLoggerHook.tracked_config_keys: expected a top-level key")
    assert "did you mean 'optim_wrapper'" in line
