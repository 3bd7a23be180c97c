"""The subcommands of ``customrun``: the ``customrun.commands`` entry points, the core's own included.

Which distribution's command a name runs is decided from metadata alone, so listing the commands
imports none of them:

- customrun-core's command of a name always wins; a plugin's command of that name is hidden (and
  ``customrun plugins`` says so);
- a plugin the plugin policy refuses (``--disable-plugin``, ``CUSTOMRUN_DISABLE_PLUGINS``, autoload
  off, an incompatible core) provides no command;
- two enabled plugins claiming one name make it ambiguous: it is listed, and running it is a
  one-line error saying which plugin to disable.

A command's module is imported by :func:`load_command`, only when the command runs or shows its
help. Nothing here imports torch or a plugin.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import click

from customrun_core import registry
from customrun_core.errors import PluginError
from customrun_core.plugin_policy import CORE

GROUP = "commands"  # the entry-point group customrun.commands

# What ``customrun --help`` says of the core's commands, in the order it lists them: kept here so
# that the listing imports none of them. A test holds it equal to the core's entry points.
CORE_SUMMARIES: dict[str, str] = {
    "train": "Train a model from a TOML config.",
    "test": "Evaluate a checkpoint on the config's test data.",
    "config": "Print the resolved config (after extends and --set).",
    "plugins": "List installed customrun plugins (imports none of them).",
    "schedule": "Every scheduled value (lr, momentum, ...) at every iteration, without training.",
    "param-groups": "Each trainable parameter's group: lr, weight decay and extra flags.",
    "new-plugin": "Write a ready plugin distribution customrun-NAME (component, entry point, test).",
    "plot": "Draw a run's curves (loss, lr, metrics) from scalars.jsonl; several runs overlay.",
    "convert": "Turn an MMEngine Python config into customrun TOML, without executing it.",
}


def _is_core(entry: registry.ComponentEntry) -> bool:
    return registry.normalize_dist(entry.dist) == CORE


def _named(entry: registry.ComponentEntry) -> str:
    return f"{entry.dist} {entry.version}"


@attrs.frozen
class CommandSlot:
    """What ``customrun NAME`` can run.

    Attributes:
        name: the command's name (its entry point's).
        candidates: the entries that may run it: customrun-core's alone when it has one, else every
            enabled plugin's (more than one: ambiguous).
        hidden: plugins' entries of this name that customrun-core's hides.
        refused: ``(entry, why)`` for each plugin entry the plugin policy refuses.
    """

    name: str
    candidates: tuple[registry.ComponentEntry, ...]
    hidden: tuple[registry.ComponentEntry, ...] = ()
    refused: tuple[tuple[registry.ComponentEntry, str], ...] = ()

    @property
    def listed(self) -> bool:
        """Whether ``customrun --help`` lists it (core commands always are)."""
        return bool(self.candidates) or self.name in CORE_SUMMARIES

    @property
    def summary(self) -> str:
        """A line for ``customrun --help``, read without importing the command."""
        if self.name in CORE_SUMMARIES:
            return CORE_SUMMARIES[self.name]
        if len(self.candidates) > 1:
            return f"ambiguous: {' and '.join(map(_named, self.candidates))} (see customrun plugins)"
        return f"from {_named(self.candidates[0])}"

    def entry(self) -> registry.ComponentEntry:
        """The one entry that runs this command.

        Raises:
            PluginError: none may run (the core's metadata lacks it, or its plugin is refused), or
                several plugins claim the name.
        """
        if len(self.candidates) == 1:
            return self.candidates[0]
        if len(self.candidates) > 1:
            dists = " and ".join(map(_named, self.candidates))
            drop = " ".join(f"--disable-plugin {e.dist}" for e in self.candidates[1:])
            raise PluginError(
                f"command {self.name!r} is provided by {dists}; run {self.candidates[0].dist}'s with "
                f"customrun {drop} {self.name} (or disable all but one in CUSTOMRUN_DISABLE_PLUGINS)"
            )
        if self.refused:
            entry, why = self.refused[0]
            how = (
                "see customrun plugins"
                if why.startswith("incompatible")
                else f"enable it with --plugin {entry.dist}"
            )
            raise PluginError(f"command {self.name!r} is provided by {_named(entry)}, which is {why}; {how}")
        raise PluginError(
            f"the installed metadata of {CORE} has no entry point {self.name!r} in group "
            f"{registry.GROUP_PREFIX}{GROUP}: reinstall it (pip install customrun-core, or pip install -e . in a checkout)"
        )


def command_slots() -> dict[str, CommandSlot]:
    """Every command name, the core's first in :data:`CORE_SUMMARIES` order, then the plugins' by
    name, with the plugin policy in force (:func:`customrun_core.registry.policy`) applied."""
    found = dict(registry.scan_entry_points().get(GROUP, {}))
    names = [*CORE_SUMMARIES, *sorted(set(found) - set(CORE_SUMMARIES))]
    slots = {}
    for name in names:
        entries = found.get(name, ())
        core = tuple(e for e in entries if _is_core(e))
        plugins = [e for e in entries if not _is_core(e)]
        decided = [(e, registry.policy().refusal(e.dist, *_entry_names(e.dist))) for e in plugins]
        enabled = tuple(sorted((e for e, why in decided if why is None), key=lambda e: e.dist.lower()))
        refused = tuple((e, why) for e, why in decided if why is not None)
        slots[name] = CommandSlot(name, core or enabled, enabled if core else (), refused)
    return slots


def _entry_names(dist: str) -> list[str]:
    """Every entry-point name of ``dist``: the policy names a plugin by its distribution or by any
    of them, as ``customrun plugins`` does."""
    key = registry.normalize_dist(dist)
    return [
        name
        for names in registry.scan_entry_points().values()
        for name, entries in names.items()
        if any(registry.normalize_dist(e.dist) == key for e in entries)
    ]


def command_notes(slots: Iterable[CommandSlot]) -> dict[str, list[str]]:
    """Normalised distribution -> what ``customrun plugins`` should say about its commands: hidden
    by the core's, or claimed by another plugin too."""
    notes: dict[str, list[str]] = {}
    for slot in slots:
        for entry in slot.hidden:
            note = f"command {slot.name!r} is hidden: customrun {slot.name} runs {CORE}'s"
            notes.setdefault(registry.normalize_dist(entry.dist), []).append(note)
        if len(slot.candidates) > 1:
            for entry in slot.candidates:
                others = " and ".join(e.dist for e in slot.candidates if e is not entry)
                note = f"command {slot.name!r} is also provided by {others}: disable one of them to run it"
                notes.setdefault(registry.normalize_dist(entry.dist), []).append(note)
    return notes


def load_command(entry: registry.ComponentEntry) -> click.Command:
    """Import the click command ``entry`` names.

    Raises:
        PluginError: its import fails (any exception), or it is not a click command; the message
            names the distribution and the entry point.
    """
    where = f"command {entry.name!r} from {_named(entry)} (entry point {entry.name} = {entry.value})"
    try:
        command = entry.load()
    except BaseException as error:  # a broken plugin: whatever its import raises, SystemExit too
        raise PluginError(f"{where} failed to import: {type(error).__name__}: {error}") from error
    if not isinstance(command, click.Command):
        raise PluginError(f"{where} is {_a(command)}, not a click command (@click.command())")
    return command


def _a(value: Any) -> str:
    kind = "a class" if isinstance(value, type) else f"a {type(value).__name__}"
    return f"{kind} ({getattr(value, '__qualname__', repr(value)[:40])})"
