"""Which plugin distribution a module belongs to, so that the plugin policy holds whichever way
a plugin's code is named: by entry point (:mod:`customrun_core.registry`), by import path or in
``custom_imports`` (:mod:`customrun_core.import_paths`, which asks here before importing).

Read from installed metadata only (``importlib.metadata.packages_distributions`` and the plugins'
entry points); nothing here imports a plugin.
"""

from __future__ import annotations

from typing import Any

# The registry is imported inside each function: it imports import_paths, which imports this.


def _plugin_entries() -> dict[str, list[Any]]:
    """Normalised distribution -> its ``customrun.*`` entry points, for every plugin (not the core)."""
    from customrun_core import registry

    found: dict[str, list[Any]] = {}
    for names in registry.scan_entry_points().values():
        for entries in names.values():
            for entry in entries:
                if registry.normalize_dist(entry.dist) != registry.normalize_dist("customrun-core"):
                    found.setdefault(registry.normalize_dist(entry.dist), []).append(entry)
    return found


def module_refusal(module_name: str) -> tuple[str, str] | None:
    """``(distribution, why)`` when the top-level package of ``module_name`` belongs only to
    plugin distributions whose code the policy refuses whole
    (:meth:`~customrun_core.plugin_policy.PluginPolicy.distribution_refusal`), else None; a module of
    no plugin (torch, the user's own files) is never refused. Read from metadata (the installed
    files and the plugins' entry points), importing nothing, and only when the policy refuses some
    plugin, so a run with no plugin switched off pays nothing."""
    from customrun_core import registry
    from customrun_core.plugin_policy import distribution_tops, module_owners

    plugins = _plugin_entries()
    refused = {
        dist: (entries[0].dist, why)
        for dist, entries in plugins.items()
        if (why := registry.policy().distribution_refusal(entries[0].dist, {e.name for e in entries}))
    }
    if not refused:
        return None
    top = _top(module_name)
    # A distribution's entry points name its modules too (some installs record no files).
    named = {d for d, entries in plugins.items() for e in entries if _top(e.entry_point.module) == top}
    candidates = {d for d in refused if d in named or top in distribution_tops(plugins[d][0].dist)}
    if not candidates:  # most modules named are no refused plugin's: no scan of every distribution
        return None
    owners = candidates | named | set(module_owners().get(top, ()))
    if owners <= refused.keys():  # a top-level name another distribution shares is not refused
        return refused[min(owners)]
    return None


def policy_refusal(module_name: str) -> str | None:
    """Why the plugin policy refuses ``module_name`` (:func:`module_refusal`) in one line naming
    the distribution and how to enable it, else None."""
    found = module_refusal(module_name)
    if found is None:
        return None
    dist, why = found
    how = (
        f"install a version that supports this core (pip install -U {dist})"
        if why.startswith("incompatible")
        else f"enable it with --plugin {dist}"
    )
    return f"module {module_name!r} belongs to {dist}, which is {why}; {how}"


def refused_entry(target: Any) -> tuple[Any, str] | None:
    """The entry point whose object ``target`` is and why the policy refuses it, when it is
    refused one by one (``--disable-plugin HookA``) in a distribution that is otherwise allowed."""
    from customrun_core import registry

    key = (getattr(target, "__module__", None), getattr(target, "__qualname__", None))
    for entries in _plugin_entries().values():
        for entry in entries:
            if (entry.entry_point.module, entry.entry_point.attr) == key:
                why = registry.policy().refusal(entry.dist, entry.name)
                if why is not None:
                    return entry, why
    return None


def _top(module_name: str) -> str:
    return module_name.partition(".")[0]
