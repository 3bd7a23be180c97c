"""Start-up stays light: help and plugin listing import neither torch nor any plugin's code."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import sys
from customrun_core.cli import cli
try:
    cli({args!r}, prog_name="customrun")
except SystemExit:
    pass
print("IMPORTED", sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "never_import_me")))
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


def test_python_dash_m_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "customrun_core", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("customrun, version ")
