"""The installed plugins as rows: distribution, version, what it provides, and its status.

Read from entry-point metadata only; nothing here imports a plugin, so a broken plugin can never
break the listing. A run writes the same rows to ``WORK_DIR/plugins.json``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from customrun_core import registry
from customrun_core.commands import command_notes, command_slots
from customrun_core.plugin_policy import CORE


def plugin_rows(include_core: bool = False, loaded: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """One row per distribution that publishes ``customrun.*`` entry points.

    ``status`` is the policy's refusal (``disabled (by cli)``, ``incompatible: needs ...``), else
    ``loaded`` for a distribution in ``loaded`` (a run imported it), else ``not imported``. ``notes``
    says which of its commands ``customrun`` cannot run as they are (hidden by the core's, or claimed
    by another plugin too).
    """
    provides: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    entries: dict[str, registry.ComponentEntry] = {}
    for kind, names in registry.scan_entry_points().items():
        for name, found in names.items():
            for entry in found:
                provides[entry.dist][kind].append(name)
                entries.setdefault(entry.dist, entry)
    notes = command_notes(command_slots().values())
    rows = []
    for dist in sorted(provides, key=str.lower):
        builtin = registry.normalize_dist(dist) == CORE
        if builtin and not include_core:
            continue
        entry_names = [n for kind_names in provides[dist].values() for n in kind_names]
        refusal = registry.policy().status(dist, entry_names)
        status = refusal or (
            "loaded" if registry.normalize_dist(dist) in loaded or builtin else "not imported"
        )
        rows.append(
            {
                "distribution": dist,
                "version": entries[dist].version,
                "builtin": builtin,
                "status": status,
                "provides": {kind: sorted(names) for kind, names in sorted(provides[dist].items())},
                "notes": notes.get(registry.normalize_dist(dist), []),
            }
        )
    return rows


def header(rows: list[dict[str, Any]]) -> str:
    """pytest's one-line summary: ``plugins: customrun-lars-0.1.0, customrun-amp-0.1.0``."""
    active = [
        f"{r['distribution']}-{r['version']}"
        for r in rows
        if not r["builtin"] and r["status"] in ("loaded", "not imported")
    ]
    return "plugins: " + (", ".join(active) if active else "none")
