"""The plugin policy holds whichever way a plugin's code is named (issue 20, item 3): by entry
point, by import path (``type = "module:Name"``) or in ``custom_imports``; and disabling a plugin
by one of its entry points' names means the same in the listing and in a run."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from customrun_core import Runner, plugin_modules, registry
from customrun_core.cli import cli
from customrun_core.errors import ComponentError, ConfigError
from customrun_core.plugin_policy import PluginPolicy
from customrun_core.testing import tiny_config

# A module that leaves a mark when its top-level code runs: refused means never imported.
OPTIMIZER = """
from pathlib import Path

import torch

Path(__file__).with_name("imported").write_text("yes")


class FakeOpt(torch.optim.SGD):
    pass
"""

HOOKS = """
from customrun_core import Hook


class HookA(Hook):
    pass


class HookB(Hook):
    pass
"""


def _fakeopt(customrun_distribution: Any, requires: tuple[str, ...] = ("customrun-core>=0.1",)) -> Path:
    """customrun-fakeopt: optimizer FakeOpt in module fakeopt; returns the file its import writes."""
    root = customrun_distribution(
        "customrun-fakeopt",
        entry_points={"customrun.optimizers": {"FakeOpt": "fakeopt.optim:FakeOpt"}},
        modules={"fakeopt/__init__.py": "", "fakeopt/optim.py": OPTIMIZER},
        requires=requires,
    )
    return root / "fakeopt" / "imported"


def _optimizer(type_name: str, **changes: Any) -> dict[str, Any]:
    return tiny_config(optim_wrapper={"optimizer": {"type": type_name, "lr": 0.1}}, **changes)


REFUSED = [
    (
        {"cli_disable": ["customrun-fakeopt"]},
        (),
        "belongs to customrun-fakeopt, which is disabled (by cli); enable it with --plugin customrun-fakeopt",
    ),
    (
        {"cli_no_autoload": True},
        (),
        "belongs to customrun-fakeopt, which is disabled (by cli: autoload off and not enabled by name); "
        "enable it with --plugin customrun-fakeopt",
    ),
    (
        {},
        ("customrun-core>=999",),
        "belongs to customrun-fakeopt, which is incompatible: needs customrun-core>=999",
    ),
]


@pytest.mark.parametrize(("switches", "requires", "why"), REFUSED)
@pytest.mark.parametrize("path", ["fakeopt.optim:FakeOpt", "fakeopt.optim.FakeOpt"])
def test_an_import_path_into_a_refused_plugin_is_refused_before_import(
    switches: dict[str, Any], requires: tuple[str, ...], why: str, path: str, customrun_distribution
) -> None:
    marker = _fakeopt(customrun_distribution, requires or ("customrun-core>=0.1",))
    with pytest.raises(ComponentError, match="module 'fakeopt.optim' " + _re(why)) as caught:
        Runner.from_config(_optimizer(path), plugin_switches=switches)
    assert "\n" not in str(caught.value)
    assert not marker.exists() and "fakeopt.optim" not in sys.modules


@pytest.mark.parametrize(("switches", "requires", "why"), REFUSED)
def test_custom_imports_of_a_refused_plugin_is_refused_before_import(
    switches: dict[str, Any], requires: tuple[str, ...], why: str, customrun_distribution
) -> None:
    marker = _fakeopt(customrun_distribution, requires or ("customrun-core>=0.1",))
    cfg = tiny_config(custom_imports={"imports": ["fakeopt.optim"]})
    with pytest.raises(ConfigError, match=r"custom_imports\.imports\[0\].*" + _re(why)):
        Runner.from_config(cfg, plugin_switches=switches)
    assert not marker.exists()


def test_enabled_plugins_and_modules_of_no_plugin_are_unaffected(
    customrun_distribution, customrun_isolated, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = _fakeopt(customrun_distribution)
    (tmp_path / "my_optim.py").write_text("import torch\n\nclass Mine(torch.optim.SGD):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    autoload_off = {"cli_no_autoload": True}
    for path in ("torch.optim:SGD", "my_optim:Mine"):  # installed non-plugin, local file
        Runner.from_config(_optimizer(path), plugin_switches=autoload_off)
    enabled = {"cli_no_autoload": True, "cli_enable": ["customrun-fakeopt"]}
    Runner.from_config(_optimizer("fakeopt.optim:FakeOpt"), plugin_switches=enabled)
    assert marker.exists()


def test_a_module_no_entry_point_names_is_found_in_the_installed_files(customrun_distribution) -> None:
    """pip's RECORD lists every file a distribution installed: a top-level module of the plugin that
    no entry point names (``fakeopt_extra``) belongs to it too."""
    root = customrun_distribution(
        "customrun-fakeopt",
        entry_points={"customrun.optimizers": {"FakeOpt": "fakeopt.optim:FakeOpt"}},
        modules={"fakeopt/__init__.py": "", "fakeopt/optim.py": OPTIMIZER, "fakeopt_extra.py": OPTIMIZER},
    )
    record = ["fakeopt/__init__.py,,", "fakeopt/optim.py,,", "fakeopt_extra.py,,"]
    (root / "customrun_fakeopt-1.0.dist-info" / "RECORD").write_text("\n".join(record) + "\n")
    registry.refresh()
    with pytest.raises(ComponentError, match="module 'fakeopt_extra' belongs to customrun-fakeopt"):
        Runner.from_config(
            _optimizer("fakeopt_extra:FakeOpt"), plugin_switches={"cli_disable": ["customrun-fakeopt"]}
        )
    assert "fakeopt_extra" not in sys.modules


def test_a_refused_import_path_is_one_line_exit_2_from_the_cli(
    customrun_distribution, customrun_cli, customrun_config
) -> None:
    marker = _fakeopt(customrun_distribution)
    config = customrun_config(optim_wrapper={"optimizer": {"type": "fakeopt.optim:FakeOpt", "lr": 0.1}})
    result = customrun_cli("train", str(config), "--disable-plugin", "customrun-fakeopt")
    assert result.exit_code == 2
    assert len(result.stderr_lines) == 1
    assert result.stderr_lines[0].endswith(
        "module 'fakeopt.optim' belongs to customrun-fakeopt, which is disabled (by cli); "
        "enable it with --plugin customrun-fakeopt"
    )
    assert not marker.exists()


@pytest.fixture
def two_hooks(customrun_distribution) -> None:
    """customrun-twohooks: hooks HookA and HookB in one module."""
    customrun_distribution(
        "customrun-twohooks",
        entry_points={"customrun.hooks": {"HookA": "twohooks:HookA", "HookB": "twohooks:HookB"}},
        modules={"twohooks.py": HOOKS},
    )


def test_disabling_an_entry_point_disables_that_one_in_listing_and_run(two_hooks) -> None:
    """pytest's ``-p no:NAME`` switches off the plugin called NAME and nothing else: so does
    ``--disable-plugin HookA``, and the listing says exactly that."""
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json", "--disable-plugin", "HookA"]).output)
    row = next(r for r in rows if r["distribution"] == "customrun-twohooks")
    assert row["status"] == "partly disabled (by cli): HookA"
    switches = {"cli_disable": ["HookA"]}
    Runner.from_config(tiny_config(custom_hooks=[{"type": "HookB"}]), plugin_switches=switches)
    for type_name in ("HookA", "twohooks:HookA", "twohooks.HookA"):
        with pytest.raises(ComponentError, match="disabled \\(by cli\\)"):
            Runner.from_config(tiny_config(custom_hooks=[{"type": type_name}]), plugin_switches=switches)


def test_disabling_every_entry_point_disables_the_distribution(two_hooks) -> None:
    registry.set_policy(PluginPolicy.collect(cli_disable=["HookA", "HookB"], env={}))
    assert plugin_modules.module_refusal("twohooks") == ("customrun-twohooks", "disabled (by cli)")
    rows = json.loads(
        CliRunner()
        .invoke(cli, ["plugins", "--json", "--disable-plugin", "HookA", "--disable-plugin", "HookB"])
        .output
    )
    assert next(r for r in rows if r["distribution"] == "customrun-twohooks")["status"] == "disabled (by cli)"


def _re(text: str) -> str:
    import re

    return re.escape(text)
