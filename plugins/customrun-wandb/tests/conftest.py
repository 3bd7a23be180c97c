"""W&B offline, everything it writes under the test's directory, and a reader of what it wrote.

No test needs a network or an account: ``WANDB_MODE=offline`` writes each run to an
``offline-run-*`` directory, and :func:`wandb_runs` reads its ``.wandb`` transaction log back with
wandb's own reader (``wandb leet inspect --json``, one JSON object per record).

Where customrun-wandb or wandb is not installed (tox's ``py`` environment collects every plugin's
tests but installs this one only in ``tox -e wandb``), the tests here are skipped, saying why.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
MISSING = [name for name in ("customrun_wandb", "wandb") if importlib.util.find_spec(name) is None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not MISSING:
        return
    skip = pytest.mark.skip(
        reason=f"needs {' and '.join(MISSING)}: tox -e wandb installs the plugin with wandb"
    )
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")  # leave pytest's capture of stdout alone
    monkeypatch.setenv("WANDB_X_DISABLE_STATS", "true")  # no system-metrics process per run
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
    for name in (
        "WANDB_DIR",
        "WANDB_API_KEY",
        "WANDB_PROJECT",
        "WANDB_ENTITY",
        "WANDB_RUN_ID",
        "WANDB_RESUME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def read_run(path: Path) -> dict[str, Any]:
    """One offline run, from its ``.wandb`` file as wandb reads it: ``run_id``, ``resumed``,
    ``start_time``, ``config`` (without wandb's ``_wandb``), ``rows`` (each history row without W&B's ``_*``
    entries), ``summary`` (the summary updates merged), ``metrics`` (define_metric records), ``artifacts`` (name -> type and file paths),
    ``types`` (every record's type) and ``exit_code``."""
    out = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    run: dict[str, Any] = {
        "config": {},
        "rows": [],
        "summary": {},
        "metrics": [],
        "artifacts": {},
        "types": [],
    }
    for line in out.splitlines():
        record = json.loads(line)
        kind = record["type"]
        run["types"].append(kind)
        body = record.get(kind, {})
        if kind == "run":
            run["run_id"], run["resumed"] = body["run_id"], body.get("resume", False)
            run["start_time"] = body["start_time"]
            run["config"].update(body.get("config", {}).get("update", {}))
        elif kind == "config":
            run["config"].update(body.get("update", {}))
        elif kind == "history":
            run["rows"].append({k: v for k, v in body["item"].items() if not k.startswith("_")})
        elif kind == "summary":
            run["summary"].update(body.get("update", {}))
        elif kind == "metric":
            run["metrics"].append(body)
        elif kind == "artifact":
            run["artifacts"][body["name"]] = (
                body["type"],
                sorted(f["path"] for f in body["manifest"]["contents"]),
            )
        elif kind == "exit":
            run["exit_code"] = body.get("exit_code", 0)
    run["config"].pop("_wandb", None)
    return run


@pytest.fixture
def wandb_runs() -> Callable[[Path], list[dict[str, Any]]]:
    """``wandb_runs(directory)``: every offline run under ``directory/wandb``, oldest first (:func:`read_run`)."""

    def runs(directory: Path) -> list[dict[str, Any]]:
        found = [read_run(path) for path in (directory / "wandb").glob("offline-run-*/run-*.wandb")]
        return sorted(found, key=lambda run: run["start_time"])  # directory names count whole seconds

    return runs
