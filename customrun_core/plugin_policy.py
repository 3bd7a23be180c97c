"""Which installed plugins may load: switches from the command line, the environment and the
config, and the core versions each plugin declares it supports.

Precedence is command line over environment over config: the highest source that names a plugin
decides for it. A plugin is named by its distribution (``customrun-lars``) or by one of its entry
points (``LARS``), which switches that entry point alone, as pytest's ``-p no:NAME`` does; names
compare case-insensitively with ``-``/``_``/``.`` alike. customrun-core
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

    def distribution_refusal(self, dist: str, entry_names: Iterable[str]) -> str | None:
        """Why no code of ``dist`` may run, so that none of its modules may be imported by any name
        (entry point, import path, ``custom_imports``), else None: each of its ``entry_names`` is
        refused (the distribution disabled by its own name or entry point by entry point, autoload
        off and none of them enabled by name, or the distribution incompatible)."""
        per_entry = [self.refusal(dist, name) for name in entry_names] or [self.refusal(dist)]
        if not all(per_entry):
            return None
        return self.refusal(dist) or per_entry[0]

    def status(self, dist: str, entry_names: Iterable[str]) -> str | None:
        """What ``customrun plugins`` shows for ``dist``: :meth:`distribution_refusal`, else
        ``partly disabled (by cli): A, B`` naming the entry points refused one by one, else None."""
        names = list(entry_names)
        whole = self.distribution_refusal(dist, names)
        if whole is not None:
            return whole
        refused = {name: why for name in names if (why := self.refusal(dist, name))}
        if not refused:
            return None
        if len(set(refused.values())) == 1:
            return f"partly {next(iter(refused.values()))}: {', '.join(sorted(refused))}"
        return "partly disabled: " + ", ".join(f"{n} ({why})" for n, why in sorted(refused.items()))

    def check_required(self) -> None:
        """Raise if a requirement of ``[plugins] require`` is not met by what is installed."""
        from packaging.requirements import InvalidRequirement, Requirement

        for text in self.required:
            try:
                requirement = Requirement(text)
            except InvalidRequirement as error:
                # packaging's message goes on to repeat the text with a caret under the fault: keep
                # its first line, the one-line rule holds
                reason = str(error).strip().splitlines()[0] if str(error).strip() else "invalid"
                raise PluginError(f"[plugins] require: {text!r} is not a requirement ({reason})") from None
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
def module_owners() -> dict[str, tuple[str, ...]]:
    """Top-level module name -> normalised names of the installed distributions that provide it,
    from their metadata (``importlib.metadata.packages_distributions``): nothing is imported."""
    owners = importlib_metadata.packages_distributions()
    return {top: tuple(normalize_name(d) for d in dists) for top, dists in owners.items()}


@functools.cache
def distribution_tops(dist: str) -> frozenset[str]:
    """Top-level module names that ``dist`` installs, from its ``top_level.txt`` or else its list
    of files: one distribution's metadata, where :func:`module_owners` reads every one's."""
    try:
        found = importlib_metadata.distribution(dist)
    except importlib_metadata.PackageNotFoundError:
        return frozenset()
    declared = (found.read_text("top_level.txt") or "").split()
    if declared:
        return frozenset(declared)
    tops = set()
    for file in found.files or []:
        name = str(file)
        if "/" in name:
            tops.add(name.partition("/")[0])
        elif name.endswith(".py"):
            tops.add(name[: -len(".py")])
    return frozenset(tops)


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
