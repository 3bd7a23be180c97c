"""Turning plugins on and off (command line over environment over config), and core versions."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from customrun_core import Runner, plugin_policy, registry
from customrun_core.cli import cli
from customrun_core.config.schema import PluginsConfig
from customrun_core.errors import ComponentError, PluginError
from customrun_core.plugin_policy import PluginPolicy
from customrun_core.testing import tiny_config

HOOK = "from customrun_core import Hook\n\nclass PingHook(Hook):\n    pass\n"


@pytest.fixture
def ping(customrun_distribution):
    """customrun-ping 1.0: a hook component PingHook, compatible with this core."""
    customrun_distribution(
        "customrun-ping",
        entry_points={"customrun.hooks": {"PingHook": "ping_mod:PingHook"}},
        modules={"ping_mod.py": HOOK},
        requires=("customrun-core>=0.1,<1",),
    )
    yield
    registry.refresh()


def test_command_line_beats_environment_beats_config() -> None:
    env = {"CUSTOMRUN_PLUGINS": "customrun-a", "CUSTOMRUN_DISABLE_PLUGINS": "customrun-b"}
    policy = PluginPolicy.collect(
        env=env,
        config_disable=["customrun-a"],
        config_enable=["customrun-b", "customrun-c"],
        cli_disable=["c"],
    )
    assert policy.refusal("customrun-a") is None  # env's enable overrides config's disable
    assert policy.refusal("customrun-b") == "disabled (by env)"
    assert policy.refusal("customrun-c", "c") == "disabled (by cli)"
    cli_wins = PluginPolicy.collect(env=env, cli_enable=["Customrun_B"])
    assert cli_wins.refusal("customrun-b") is None  # names compare normalised


def test_autoload_off_loads_only_plugins_enabled_by_name() -> None:
    policy = PluginPolicy.collect(
        env={"CUSTOMRUN_DISABLE_PLUGIN_AUTOLOAD": "1", "CUSTOMRUN_PLUGINS": "customrun-a"}
    )
    assert policy.refusal("customrun-a") is None
    assert policy.refusal("customrun-b") == "disabled (by env: autoload off and not enabled by name)"
    assert policy.refusal("customrun-core") is None  # the core is never disabled


def test_a_disabled_plugins_component_says_how_to_enable_it(ping) -> None:
    registry.set_policy(PluginPolicy.collect(env={}, cli_disable=["customrun-ping"]))
    with pytest.raises(ComponentError) as info:
        registry.resolve("hooks", "PingHook")
    assert str(info.value) == (
        "hook 'PingHook' is provided by customrun-ping, which is disabled (by cli); "
        "enable it with --plugin customrun-ping"
    )
    registry.set_policy(PluginPolicy.collect(env={}))
    assert registry.resolve("hooks", "PingHook").__name__ == "PingHook"


def test_a_plugin_that_needs_a_newer_core_is_refused(customrun_distribution) -> None:
    customrun_distribution(
        "customrun-future",
        version="3.0",
        entry_points={
            "customrun.hooks": {"FutureHook": "future_mod:PingHook"},
            "customrun.plugins": {"future": "future_mod"},
        },
        modules={"future_mod.py": HOOK},
        requires=("torch", "customrun-core>=9.0"),
    )
    with pytest.raises(ComponentError, match=r"incompatible: needs customrun-core>=9\.0 \(this is 0\.1\.0\)"):
        registry.resolve("hooks", "FutureHook")
    with pytest.raises(PluginError) as info:
        Runner.from_config(tiny_config())
    assert (
        "customrun-future 3.0, entry point future = future_mod: incompatible: needs customrun-core>=9.0"
        in str(info.value)
    )
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    assert next(r for r in rows if r["distribution"] == "customrun-future")["status"].startswith(
        "incompatible"
    )


def test_config_requirements_are_checked_before_the_run(ping) -> None:
    with pytest.raises(PluginError, match=r"customrun-ping>=2 but customrun-ping 1\.0 is installed"):
        Runner.from_config(tiny_config(plugins={"require": ["customrun-ping>=2"]}))
    with pytest.raises(
        PluginError, match="customrun-absent is not installed: pip install 'customrun-absent'"
    ):
        Runner.from_config(tiny_config(plugins={"require": ["customrun-absent"]}))
    Runner.from_config(tiny_config(plugins={"require": ["customrun-ping>=1"]}))


def test_listing_shows_status_and_the_run_records_its_plugins(ping, tmp_path) -> None:
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json", "--disable-plugin", "PingHook"]).output)
    assert next(r for r in rows if r["distribution"] == "customrun-ping")["status"] == "disabled (by cli)"
    registry.set_policy(PluginPolicy.collect(env={}))
    cfg = tiny_config(work_dir=str(tmp_path / "w"), custom_hooks=[{"type": "PingHook"}])
    runner = Runner.from_config(cfg)
    runner.train()
    recorded = json.loads((tmp_path / "w" / "plugins.json").read_text())
    ping_row = next(r for r in recorded if r["distribution"] == "customrun-ping")
    assert ping_row["status"] == "loaded" and ping_row["provides"] == {"hooks": ["PingHook"]}
    header = next(
        line for line in (tmp_path / "w" / "run.log").read_text().splitlines() if " plugins: " in line
    )
    assert "customrun-ping-1.0" in header.split(" plugins: ")[1].split(", ")


def test_config_can_disable_a_plugin_and_the_command_line_re_enable_it(ping) -> None:
    cfg = tiny_config(custom_hooks=[{"type": "PingHook"}], plugins={"disable": ["customrun-ping"]})
    with pytest.raises(ComponentError, match=r"disabled \(by config\)"):
        Runner.from_config(cfg)
    Runner.from_config(cfg, plugin_switches={"cli_enable": ["customrun-ping"]})


def test_requirements_reproduce_the_enabled_plugin_set(ping) -> None:
    lines = CliRunner().invoke(cli, ["plugins", "--requirements"]).output.splitlines()
    assert "customrun-ping==1.0" in lines
    assert not any(line.startswith("customrun-core") for line in lines)
    disabled = (
        CliRunner().invoke(cli, ["plugins", "--requirements", "--disable-plugin", "customrun-ping"]).output
    )
    assert "customrun-ping" not in disabled


def test_hooks_option_shows_where_a_hook_plugin_runs(customrun_distribution) -> None:
    customrun_distribution(
        "customrun-early",
        entry_points={"customrun.plugins": {"early": "early_mod"}},
        modules={
            "early_mod.py": "from customrun_core import hookimpl\n\n"
            "@hookimpl(tryfirst=True)\ndef after_train_iter(runner):\n    pass\n"
        },
    )
    order = json.loads(CliRunner().invoke(cli, ["plugins", "--hooks", "--json"]).output)
    assert [impl["name"] for impl in order["after_train_iter"]] == [
        "customrun-early:early", "RuntimeInfoHook", "IterTimerHook", "LoggerHook", "ParamSchedulerHook", "CheckpointHook",
    ]  # fmt: skip


def test_schedule_and_param_groups_take_the_plugin_switches(ping, tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'model = { type = "ClassifierModel", backbone = { type = "MLP", in_features = 64, num_classes = 10 } }\n'
        'optim_wrapper = { optimizer = { type = "SGD", lr = 0.1 } }\n'
        "train_cfg = { max_epochs = 1 }\n"
        '[plugins]\nrequire = ["customrun-ping>=2"]\n'
    )
    for command in (["schedule", str(cfg), "--iters-per-epoch", "2"], ["param-groups", str(cfg)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        assert "customrun-ping>=2 but customrun-ping 1.0 is installed" in result.output


def test_activate_policy_puts_the_config_and_switches_in_force(ping) -> None:
    """The config disables customrun-ping, the command line re-enables it; an unmet requirement
    is refused after the policy is in force."""
    disabled = registry.activate_policy(PluginsConfig(disable=["customrun-ping"]), {"env": {}})
    assert registry.policy() is disabled
    assert disabled.refusal("customrun-ping") == "disabled (by config)"
    enabled = registry.activate_policy(
        PluginsConfig(disable=["customrun-ping"]), {"env": {}, "cli_enable": ["customrun-ping"]}
    )
    assert registry.policy() is enabled and enabled.refusal("customrun-ping") is None
    with pytest.raises(PluginError, match="customrun-absent is not installed"):
        registry.activate_policy(PluginsConfig(require=["customrun-absent"]), {"env": {}})


def test_the_registry_imports_the_policy_and_never_the_reverse() -> None:
    """plugin_policy holds no state and imports nothing of the registry, even inside a function."""
    tree = ast.parse(Path(plugin_policy.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    assert "customrun_core.registry" not in imported
    assert "customrun_core.errors" in imported  # the walk sees the module's imports
    assert "plugin_policy" in Path(registry.__file__).read_text(encoding="utf-8")
