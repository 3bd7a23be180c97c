"""Which installed plugins may load: switches from the command line, the environment and the
config, and the core versions each plugin declares it supports.

Precedence is command line over environment over config: the highest source that names a plugin
decides for it. A plugin is named by its distribution (``customrun-lars``) or by one of its entry
points (``LARS``); names compare case-insensitively with ``-``/``_``/``.`` alike. customrun-core
itself can never be disabled. Nothing here imports a plugin: compatibility is read from the
installed metadata (the plugin's ``Requires-Dist: customrun-core ...``).

This module holds no state: the policy in force in a process is the registry's
(:func:`customrun_core.registry.activate_policy`), and the registry imports this module, never
the reverse.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping

import attrs
import importlib_metadata

from customrun_core import __version__
from customrun_core.errors import PluginError

CORE = "customrun-core"
ENV_DISABLE = "CUSTOMRUN_DISABLE_PLUGINS"
ENV_ENABLE = "CUSTOMRUN_PLUGINS"
ENV_NO_AUTOLOAD = "CUSTOMRUN_DISABLE_PLUGIN_AUTOLOAD"
PRECEDENCE = ("config", "env", "cli")  # lowest first


def normalize_name(name: str) -> str:
    """PEP 503 normalisation (packaging's ``canonicalize_name``, without importing packaging at
    start-up), so ``Customrun_LARS`` and ``customrun-lars`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(values: Iterable[str]) -> list[str]:
    return [normalize_name(v) for v in values if v.strip()]


def _env_list(env: Mapping[str, str], key: str) -> list[str]:
    return _names(env.get(key, "").split(","))


@attrs.frozen
class PluginPolicy:
    """What the user said about plugins, merged by precedence.

    Attributes:
        decisions: plugin name -> (enabled, source), source being ``cli``, ``env`` or ``config``.
        autoload_off_by: the source that turned entry-point autoloading off, or None when it is on
            (then only plugins enabled by name load).
        required: requirement strings from the config's ``[plugins] require``.
    """

    decisions: dict[str, tuple[bool, str]] = attrs.field(factory=dict)
    autoload_off_by: str | None = None
    required: tuple[str, ...] = ()

    @classmethod
    def collect(
        cls,
        *,
        cli_enable: Iterable[str] = (),
        cli_disable: Iterable[str] = (),
        cli_no_autoload: bool = False,
        env: Mapping[str, str] | None = None,
        config_enable: Iterable[str] = (),
        config_disable: Iterable[str] = (),
        config_require: Iterable[str] = (),
    ) -> PluginPolicy:
        env = os.environ if env is None else env
        decisions: dict[str, tuple[bool, str]] = {}
        layers = [
            ("config", _names(config_enable), _names(config_disable)),
            ("env", _env_list(env, ENV_ENABLE), _env_list(env, ENV_DISABLE)),
            ("cli", _names(cli_enable), _names(cli_disable)),
        ]
        for source, enable, disable in layers:  # lowest precedence first, so higher ones overwrite
            decisions.update(dict.fromkeys(enable, (True, source)))
            decisions.update(dict.fromkeys(disable, (False, source)))
        autoload_off_by = (
            "cli" if cli_no_autoload else "env" if env.get(ENV_NO_AUTOLOAD, "") not in ("", "0") else None
        )
        return cls(decisions, autoload_off_by, tuple(config_require))

    def refusal(self, dist: str, *entry_names: str) -> str | None:
        """None when the plugin may load, else why not (``disabled (by cli)``, ...). The plugin is
        named by its distribution and by any of ``entry_names``."""
        if normalize_name(dist) == CORE:
            return None
        names = {normalize_name(name) for name in (dist, *entry_names)}
        said = [self.decisions[n] for n in names if n in self.decisions]
        if said:  # the most authoritative source that named this plugin decides
            enabled, source = max(said, key=lambda decision: PRECEDENCE.index(decision[1]))
            if not enabled:
                return f"disabled (by {source})"
        enabled_by_name = any(enabled for enabled, _ in said)
        if self.autoload_off_by is not None and not enabled_by_name:
            return f"disabled (by {self.autoload_off_by}: autoload off and not enabled by name)"
        return incompatibility(dist)

    def check_required(self) -> None:
        """Raise if a requirement of ``[plugins] require`` is not met by what is installed."""
        from packaging.requirements import InvalidRequirement, Requirement

        for text in self.required:
            try:
                requirement = Requirement(text)
            except InvalidRequirement as error:
                raise PluginError(f"[plugins] require: {text!r} is not a requirement ({error})") from None
            installed = _installed_version(requirement.name)
            if installed is None:
                raise PluginError(
                    f"[plugins] require: {requirement.name} is not installed: pip install '{text}'"
                )
            if not requirement.specifier.contains(installed, prereleases=True):
                raise PluginError(
                    f"[plugins] require: {text} but {requirement.name} {installed} is installed: pip install '{text}'"
                )


def _installed_version(dist: str) -> str | None:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return None


@functools.cache
def incompatibility(dist: str) -> str | None:
    """``incompatible: needs customrun-core<spec>`` when the plugin's declared range excludes this
    core, else None (also when it declares none)."""
    try:
        requires = importlib_metadata.distribution(dist).requires or []
    except importlib_metadata.PackageNotFoundError:
        return None
    from packaging.requirements import InvalidRequirement, Requirement  # not needed by --help

    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if normalize_name(requirement.name) != CORE or (
            requirement.marker and not requirement.marker.evaluate({"extra": ""})
        ):
            continue
        if not requirement.specifier.contains(__version__, prereleases=True):
            return f"incompatible: needs {CORE}{requirement.specifier} (this is {__version__})"
    return None
