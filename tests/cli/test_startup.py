"""Start-up stays light: help and plugin listing import neither torch, matplotlib nor any plugin's
code; ``customrun plot`` imports matplotlib but not torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
from customrun_core.cli import cli
try:
    cli({args!r}, prog_name="customrun")
except SystemExit:
    pass
tops = set(m.split(".")[0] for m in sys.modules)
print("IMPORTED", sorted(tops & set(["torch", "matplotlib", "never_import_me"])))
"""


def _imported(args: list[str]) -> tuple[str, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True, check=True
    ).stdout
    head, _, tail = out.rpartition("IMPORTED ")
    return head, eval(tail)  # the probe prints a list literal


def test_help_imports_no_torch() -> None:
    output, imported = _imported(["--help"])
    assert "train" in output and "plugins" in output
    assert imported == []


def test_subcommand_help_imports_no_torch_and_no_matplotlib() -> None:
    for command in ("plot", "schedule"):
        output, imported = _imported([command, "--help"])
        assert f"Usage: customrun {command}" in output
        assert imported == [], command


def test_plot_imports_matplotlib_but_no_torch(tmp_path: Path) -> None:
    record = {"mode": "train", "step": 1, "epoch": 1, "loss": 1.0}
    (tmp_path / "scalars.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    output, imported = _imported(["plot", str(tmp_path), "--dpi", "10"])
    assert output.startswith(f"wrote {tmp_path / 'curves.png'}")
    assert imported == ["matplotlib"]
    assert (tmp_path / "curves.png").is_file()


def test_plugins_imports_no_torch_and_no_plugin_code(customrun_distribution) -> None:
    customrun_distribution(
        "customrun-heavy",
        version="2.5",
        entry_points={
            "customrun.optimizers": {"Heavy": "never_import_me:Heavy"},
            "customrun.plugins": {"heavy": "never_import_me"},
        },
        modules={"never_import_me.py": "raise RuntimeError('imported!')\n"},
    )
    output, imported = _imported(["plugins", "--json"])
    rows = json.loads(output)
    heavy = next(r for r in rows if r["distribution"] == "customrun-heavy")
    assert heavy["version"] == "2.5"
    assert heavy["provides"] == {"optimizers": ["Heavy"], "plugins": ["heavy"]}
    assert imported == []


def test_help_lists_a_plugin_command_without_importing_it(customrun_distribution) -> None:
    customrun_distribution(
        "customrun-heavy",
        entry_points={"customrun.commands": {"heavy": "never_import_me:heavy"}},
        modules={"never_import_me.py": "raise RuntimeError('imported!')\n"},
    )
    output, imported = _imported(["--help"])
    assert "heavy" in output and "from customrun-heavy 1.0" in output
    assert imported == []


def test_python_dash_m_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "customrun_core", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("customrun, version ")
