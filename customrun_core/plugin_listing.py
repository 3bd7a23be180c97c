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


SHORT_HEADER = 90  # the console's plugins line, in characters: 100 columns with the time of day


def header(rows: list[dict[str, Any]], short: bool = False) -> str:
    """pytest's one-line summary: ``plugins: customrun-lars-0.1.0, customrun-amp-0.1.0``.

    ``short`` (the console's; run.log has the whole line): the names without ``customrun-`` and without
    versions, as many as fit :data:`SHORT_HEADER` characters, then ``and N more (customrun plugins)``.
    """
    active = [r for r in rows if not r["builtin"] and r["status"] in ("loaded", "not imported")]
    if not active:
        return "plugins: none"
    if not short:
        return "plugins: " + ", ".join(f"{r['distribution']}-{r['version']}" for r in active)
    names = [r["distribution"].removeprefix("customrun-") for r in active]
    for count in range(len(names), 0, -1):
        more = f" and {len(names) - count} more (customrun plugins)" if count < len(names) else ""
        text = "plugins: " + ", ".join(names[:count]) + more
        if len(text) <= SHORT_HEADER:
            return text
    return f"plugins: {len(names)} (customrun plugins)"
