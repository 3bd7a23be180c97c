"""Wrong arguments and a missing wandb: one line, exit status 2, before training."""

from __future__ import annotations

import sys

import pytest

WANDB = {"type": "WandbLoggerHook"}


@pytest.mark.parametrize(
    ("arguments", "key", "message"),
    [
        (
            {"init_kwargs": {"projet": "p"}},
            "init_kwargs.projet",
            "expected an argument of wandb.init, got 'projet' (did you mean 'project'?)",
        ),
        (
            {"init_kwargs": {"id": "abc"}},
            "init_kwargs.id",
            "the hook sets wandb.init's 'id' itself (the resolved config; the run id, kept in checkpoints,"
            " so that a resumed run continues its W&B run): remove it",
        ),
        ({"commit": False}, "commit", "expected true (customrun logs one W&B row per record), got False"),
        (
            {"define_metric_cfg": [{"name": "train/loss", "step_metric": "iter"}]},
            "define_metric_cfg[0].step_metric",
            "expected 'step' or 'epoch' (customrun's x-axes), got 'iter' (did you mean 'step'?)",
        ),
        (
            {"define_metric_cfg": [{"summary": "max"}]},
            "define_metric_cfg[0]",
            "expected a table with a name, got {'summary': 'max'}",
        ),
        (
            {"init_kwargs": {"project": "p"}, "log_code": "x"},
            "log_code",
            None,  # the core checks the hook's own arguments: the closest is log_code_name
        ),
    ],
    ids=["unknown-init-argument", "own-init-argument", "commit", "iter-axis", "nameless-metric", "unknown"],
)
def test_a_wrong_argument_is_one_line(customrun_cli, customrun_config, arguments, key, message) -> None:
    config = customrun_config(custom_hooks=[{**WANDB, **arguments}])
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    [line] = result.stderr_lines
    prefix = f"error: {config}: custom_hooks[0].{key}: "
    if message is None:
        assert line.startswith(prefix) and "'log_code_name'" in line
    else:
        assert line == prefix + message
    assert not (config.parent / "work" / "scalars.jsonl").exists()  # before any training


def test_without_wandb_the_run_stops_at_start_with_the_install_line(
    customrun_cli, customrun_config, monkeypatch
) -> None:
    for name in list(sys.modules):
        if name == "wandb" or name.startswith("wandb."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "wandb", None)  # what `import wandb` meets when it is not installed
    config = customrun_config(custom_hooks=[WANDB])
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert result.stderr_lines == [
        f"error: {config}: custom_hooks[0]: WandbLoggerHook needs wandb, which is not installed: pip install wandb"
    ]


def test_without_the_plugin_a_config_naming_the_hook_says_what_to_install(monkeypatch) -> None:
    from customrun_core import registry
    from customrun_core.errors import ComponentError

    scan = registry.scan_entry_points()  # as if customrun-wandb were not installed
    hidden = {
        kind: {n: e for n, e in names.items() if n != "WandbLoggerHook"} for kind, names in scan.items()
    }
    monkeypatch.setattr(registry, "scan_entry_points", lambda: hidden)
    with pytest.raises(ComponentError, match="pip install customrun-wandb"):
        registry.resolve("hooks", "WandbLoggerHook")
