"""docs/migration.md's table of component names: exactly the names that customrun-core and the
first-party plugins declare (their pyproject.toml files), each resolving through the installed entry
points to the distribution the table names, and the plugins' rows are the install hints customrun
gives (registry.FIRST_PARTY)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from customrun_core import registry

REPOSITORY = Path(__file__).resolve().parents[1]
MIGRATION = REPOSITORY / "docs" / "migration.md"
CORE = "customrun-core"
KIND_OF = {label: kind for kind, label in registry.KINDS.items()}
TABLE_KINDS = (
    "loops",
    "hooks",
    "optimizers",
    "optim_wrappers",
    "optim_wrapper_constructors",
    "param_schedulers",
)


def table() -> dict[tuple[str, str], str]:
    """(kind, type) -> distribution, from the rows of the section "Component names"."""
    text = MIGRATION.read_text(encoding="utf-8")
    section = text.split("## Component names\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[tuple[str, str], str] = {}
    for line in section.splitlines():
        match = re.fullmatch(r"\| ([a-z ]+) \| `(\w+)` \| [\w ]+ \| ([\w-]+) \|", line)
        if match:
            rows[KIND_OF[match[1]], match[2]] = match[3]
    return rows


def declared() -> dict[tuple[str, str], str]:
    """(kind, type) -> distribution for the table's kinds, from the core's and plugins/*' pyproject.toml."""
    result: dict[tuple[str, str], str] = {}
    for pyproject in [REPOSITORY / "pyproject.toml", *sorted(REPOSITORY.glob("plugins/*/pyproject.toml"))]:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        for group, entries in project.get("entry-points", {}).items():
            kind = group.removeprefix(registry.GROUP_PREFIX)
            if kind in TABLE_KINDS:
                result.update({(kind, name): project["name"] for name in entries})
    return result


def test_the_table_lists_exactly_the_declared_components() -> None:
    rows = table()
    assert len(rows) > 50  # the rows were read
    assert rows == declared()


def test_the_plugins_rows_are_the_install_hints() -> None:
    hints = {key: dist for key, dist in registry.FIRST_PARTY.items() if key[0] in TABLE_KINDS}
    assert {key: dist for key, dist in table().items() if dist != CORE} == hints


@pytest.mark.parametrize(("key", "dist"), sorted(table().items()))
def test_each_name_resolves_to_its_distribution(key: tuple[str, str], dist: str) -> None:
    kind, name = key
    installed = registry.scan_entry_points()[kind]
    if dist != CORE and name not in installed:
        pytest.skip(f"{dist} is not installed here")
    assert dist in {entry.dist for entry in installed[name]}
    assert registry.resolve(kind, name) is not None
