"""Start-up loading of ``customrun.plugins`` entry points: pluggy-style global hook plugins.

Each entry point is loaded in its own ``try``; every failure is collected, so one broken plugin
is reported together with the others in one block that names distribution, version, entry point
and error, and the run stops before anything is built. Listing plugins never loads them.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from customrun_core import registry
from customrun_core.errors import ConfigError, PluginError, first_line, one_line
from customrun_core.import_paths import load_module


def load_plugins(hooks: Any) -> None:
    """Load every ``customrun.plugins`` entry point the plugin policy allows and register it with
    ``hooks`` (a HookDispatcher). Disabled plugins are skipped; an incompatible one is refused.

    Raises:
        PluginError: one or more plugins failed to import or to validate, or need another core;
            the message lists each.
    """
    failures = []
    for name, entries in sorted(registry.scan_entry_points().get("plugins", {}).items()):
        for entry in entries:
            why = registry.policy().refusal(entry.dist, name)
            if why is None:
                try:
                    hooks.add(entry.load(), name=f"{entry.dist}:{name}")
                except BaseException as error:  # a broken plugin, whatever it raises (SystemExit too)
                    why = first_line(error)
            elif not why.startswith("incompatible"):
                continue  # disabled: skipped without a word
            if why is not None:
                failures.append(f"  {entry.dist} {entry.version}, entry point {name} = {entry.value}: {why}")
    if failures:
        block = PluginError(
            "plugins failed to load:\n"
            + "\n".join(one_line(failure) for failure in failures)
            + "\n(uninstall or fix them; the run has not started)"
        )
        block.block = True
        raise block
    hooks.check_pending()


def import_custom_modules(modules: Iterable[str], allow_failed: bool, file: str) -> None:
    """Import the modules of ``custom_imports`` (MMEngine's way to register components).

    A module no installed package provides is looked for beside the config file, then in the
    working directory (:func:`customrun_core.import_paths.load_module`: after installed
    packages, so a local file never shadows one), without setting PYTHONPATH.
    """
    for index, module in enumerate(modules):
        try:
            load_module(module, file)
        except BaseException as error:  # whatever the module raised while importing, SystemExit too
            detail = f"cannot import {module!r}: {first_line(error)}"
            if not allow_failed:
                raise ConfigError(detail, file=file, key=f"custom_imports.imports[{index}]") from error
            warnings.warn(f"{detail}; ignored (allow_failed_imports = true)", stacklevel=2)
