"""``customrun <command>`` from the ``customrun.commands`` entry points: the core's own and a plugin's,
listed without importing them, run when named, hidden when disabled, one line when broken."""

from __future__ import annotations

import functools
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from customrun_core import registry
from customrun_core.commands import CORE_SUMMARIES

ROOT = Path(__file__).resolve().parents[2]

# A plugin's command module that records its own import in a file beside it.
HELLO = """
import pathlib

import click

pathlib.Path(__file__).with_name("imported").write_text("yes")


@click.command()
@click.option("--name", default="world", help="Whom to greet.")
def hello(name):
    '''Greet NAME.'''
    click.echo(f"hello {name} from {__name__}")
"""


def _hello(install: Any, dist: str = "customrun-hello", version: str = "1.2", name: str = "hello") -> Path:
    module = dist.replace("-", "_") + "_cmd"
    root: Path = install(
        dist,
        version=version,
        entry_points={"customrun.commands": {name: f"{module}:hello"}},
        modules={f"{module}.py": HELLO},
    )
    return root / "imported"


def _listed(help_text: str) -> dict[str, str]:
    """The Commands section of ``customrun --help``: name -> summary (its wrapped lines joined)."""
    listed: dict[str, str] = {}
    for line in help_text.split("Commands:\n", 1)[1].splitlines():
        if line.startswith("  ") and line[2] != " ":
            name, _, summary = line.strip().partition(" ")
            listed[name] = summary.strip()
        elif line.strip():
            listed[name] += " " + line.strip()
    return listed


def test_the_core_commands_are_the_entry_points_of_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = pyproject["project"]["entry-points"]["customrun.commands"]
    assert set(CORE_SUMMARIES) == set(declared)
    installed = registry.scan_entry_points()["commands"]
    for name, value in declared.items():
        core = [e for e in installed[name] if e.dist == "customrun-core"]
        assert [e.value for e in core] == [value], f"reinstall customrun-core: {name}"


def test_help_lists_a_plugin_command_without_importing_it(customrun_distribution, customrun_cli) -> None:
    imported = _hello(customrun_distribution)
    result = customrun_cli("--help")
    assert result.exit_code == 0
    listed = _listed(result.stdout)
    assert list(listed)[: len(CORE_SUMMARIES)] == list(CORE_SUMMARIES)
    assert listed["hello"] == "from customrun-hello 1.2"
    assert listed["train"] == "Train a model from a TOML config."
    assert not imported.exists()
    assert "customrun_hello_cmd" not in sys.modules


def test_a_plugin_command_runs_and_shows_its_help(customrun_distribution, customrun_cli) -> None:
    imported = _hello(customrun_distribution)
    result = customrun_cli("hello", "--name", "you")
    assert (result.exit_code, result.stdout) == (0, "hello you from customrun_hello_cmd\n")
    assert imported.exists()
    shown = customrun_cli("hello", "--help")
    assert shown.exit_code == 0
    assert "Usage: customrun hello [OPTIONS]" in shown.stdout and "Greet NAME." in shown.stdout


def test_usage_errors_of_a_plugin_command_are_one_line(customrun_distribution, customrun_cli) -> None:
    _hello(customrun_distribution)
    option = customrun_cli("hello", "--nmae", "you")
    assert (option.exit_code, option.stderr) == (
        2,
        "customrun hello: error: no such option '--nmae' (did you mean '--name'?)\n",
    )
    command = customrun_cli("helo")
    assert (command.exit_code, command.stderr) == (
        2,
        "customrun: error: no such command 'helo' (did you mean 'hello'?)\n",
    )


@pytest.mark.parametrize(
    ("how", "args", "why"),
    [
        ("env", [], "disabled (by env)"),
        ("cli", ["--disable-plugin", "customrun-hello"], "disabled (by cli)"),
        ("cli", ["--disable-plugin", "hello"], "disabled (by cli)"),  # by its entry point's name
    ],
)
def test_a_disabled_plugin_provides_no_command(
    how: str,
    args: list[str],
    why: str,
    customrun_distribution,
    customrun_cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if how == "env":
        monkeypatch.setenv("CUSTOMRUN_DISABLE_PLUGINS", "customrun-lars,customrun-hello")
    imported = _hello(customrun_distribution)
    listed = _listed(customrun_cli(*args, "--help").stdout)
    assert "hello" not in listed and "train" in listed
    result = customrun_cli(*args, "hello")
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: command 'hello' is provided by customrun-hello 1.2, which is {why}; "
        "enable it with --plugin customrun-hello\n",
    )
    assert not imported.exists()


def test_plugin_switches_before_the_command_apply_to_it(customrun_distribution, customrun_cli) -> None:
    _hello(customrun_distribution)
    result = customrun_cli(
        "--disable-plugin", "customrun-hello", "plugins", "--json", "--disable-plugin", "LARS"
    )
    rows = {row["distribution"]: row for row in json.loads(result.stdout)}
    assert rows["customrun-hello"]["status"] == "disabled (by cli)"
    if "customrun-lars" in rows:  # tox's core env installs no plugin
        # LARS is one of customrun-lars's entry points (Lamb is the other): that one is disabled
        assert rows["customrun-lars"]["status"] == "partly disabled (by cli): LARS"


def test_a_plugin_command_named_like_a_core_command_is_hidden(
    customrun_distribution, customrun_cli, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the table's rows unwrapped, however many plugins are installed
    imported = _hello(customrun_distribution, dist="customrun-shadow", name="train")
    listed = _listed(customrun_cli("--help").stdout)
    assert listed["train"] == "Train a model from a TOML config."
    assert "Usage: customrun train [OPTIONS] CFG" in customrun_cli("train", "--help").stdout
    assert not imported.exists()
    rows = {row["distribution"]: row for row in json.loads(customrun_cli("plugins", "--json").stdout)}
    assert rows["customrun-shadow"]["provides"] == {"commands": ["train"]}
    assert rows["customrun-shadow"]["notes"] == [
        "command 'train' is hidden: customrun train runs customrun-core's"
    ]
    text = customrun_cli("plugins").stdout
    assert "command: train" in text and "note: command 'train' is hidden" in text


def test_two_plugins_claiming_one_command_are_ambiguous(customrun_distribution, customrun_cli) -> None:
    _hello(customrun_distribution, dist="customrun-b", version="2.0")
    _hello(customrun_distribution, dist="customrun-a", version="1.0")
    listed = _listed(customrun_cli("--help").stdout)
    assert listed["hello"] == "ambiguous: customrun-a 1.0 and customrun-b 2.0 (see customrun plugins)"
    result = customrun_cli("hello")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: command 'hello' is provided by customrun-a 1.0 and customrun-b 2.0; run customrun-a's with "
        "customrun --disable-plugin customrun-b hello (or disable all but one in CUSTOMRUN_DISABLE_PLUGINS)\n",
    )
    picked = customrun_cli("--disable-plugin", "customrun-b", "hello")
    assert (picked.exit_code, picked.stdout) == (0, "hello world from customrun_a_cmd\n")
    rows = {row["distribution"]: row for row in json.loads(customrun_cli("plugins", "--json").stdout)}
    assert rows["customrun-a"]["notes"] == [
        "command 'hello' is also provided by customrun-b: disable one of them to run it"
    ]
    assert rows["customrun-b"]["notes"] == [
        "command 'hello' is also provided by customrun-a: disable one of them to run it"
    ]


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("import nothing_here\n", "failed to import: ModuleNotFoundError: No module named 'nothing_here'"),
        ("def cli():\n    pass\n", "is a function (cli), not a click command (@click.command())"),
    ],
    ids=["import-error", "not-a-command"],
)
def test_a_broken_command_is_one_line_naming_its_distribution(
    source: str, why: str, customrun_distribution, customrun_cli
) -> None:
    customrun_distribution(
        "customrun-broken",
        entry_points={"customrun.commands": {"broken": "broken_cmd:cli"}},
        modules={"broken_cmd.py": source},
    )
    assert "broken" in _listed(customrun_cli("--help").stdout)  # listing imports nothing, so it is there
    for args in (["broken"], ["broken", "--help"]):
        result = customrun_cli(*args, in_subprocess=True)
        assert (result.exit_code, result.stdout) == (2, "")
        assert result.stderr == (
            f"error: command 'broken' from customrun-broken 1.0 (entry point broken = broken_cmd:cli) {why}\n"
        )


def test_a_core_command_missing_from_stale_metadata_says_reinstall(
    customrun_cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    scanned = registry.scan_entry_points()
    stale = {**scanned, "commands": {k: v for k, v in scanned["commands"].items() if k != "plot"}}
    monkeypatch.setattr(registry, "scan_entry_points", functools.cache(lambda: stale))  # refresh() clears it
    assert "plot" in _listed(customrun_cli("--help").stdout)
    result = customrun_cli("plot", "runs")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: the installed metadata of customrun-core has no entry point 'plot' in group "
        "customrun.commands: reinstall it (pip install customrun-core, or pip install -e . in a checkout)\n",
    )
