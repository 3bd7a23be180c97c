"""``customrun new-plugin``: write a ready plugin distribution ``customrun-<name>``.

The distribution holds one small but working component of the chosen kind, registered under its
entry-point group, a test that trains a tiny model with it, a README and a ``.gitignore``. The
text comes from the templates in ``customrun_core/templates/new_plugin`` (``string.Template``).
"""

from __future__ import annotations

import re
import string
from importlib import resources
from pathlib import Path

import attrs
import click

from customrun_core import __version__, registry
from customrun_core.cli import traceback_option
from customrun_core.errors import CustomrunError, closest

PREFIX = "customrun-"
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_RESERVED = ("core",)  # customrun-core is the core itself


@attrs.frozen
class PluginKind:
    """What ``--kind`` makes.

    Attributes:
        group: the registry kind; the entry-point group is ``customrun.<group>``.
        suffix: appended to the CamelCase name to make the component's name.
        module: the package module that holds the component.
        summary: what the generated component does, for the description and the README.
    """

    group: str
    suffix: str
    module: str
    summary: str


PLUGIN_KINDS: dict[str, PluginKind] = {
    "hook": PluginKind("hooks", "Hook", "hook", "a hook that records the mean training loss of every epoch"),
    "optimizer": PluginKind(
        "optimizers", "Optimizer", "optimizer", "an optimizer, gradient descent with L2 weight decay"
    ),
    "scheduler": PluginKind(
        "param_schedulers", "LR", "scheduler", "a learning rate falling linearly to a fraction of its base"
    ),
    "constructor": PluginKind(
        "optim_wrapper_constructors",
        "Constructor",
        "constructor",
        "an optim wrapper constructor with a learning rate that decays layer by layer",
    ),
    "loop": PluginKind(
        "loops", "Loop", "loop", "a training loop that cuts each epoch after a number of batches"
    ),
    "wrapper": PluginKind(
        "optim_wrappers",
        "OptimWrapper",
        "wrapper",
        "an optim wrapper that skips the steps whose gradients are not finite",
    ),
}


@attrs.frozen
class PluginNames:
    """The names of one plugin: ``customrun-warmup-hold``, ``customrun_warmup_hold``, ``WarmupHoldLR``."""

    name: str
    kind: str

    @property
    def dist(self) -> str:
        return PREFIX + self.name

    @property
    def package(self) -> str:
        return self.dist.replace("-", "_")

    @property
    def component(self) -> str:
        """CamelCase of the name plus the kind's suffix, which is not doubled (``ema-hook`` -> ``EmaHook``)."""
        camel = "".join(part.capitalize() for part in self.name.split("-"))
        suffix = PLUGIN_KINDS[self.kind].suffix
        if camel.lower().endswith(suffix.lower()) and len(camel) > len(suffix):
            camel = camel[: -len(suffix)]
        return camel + suffix


def plugin_names(name: str, kind: str) -> PluginNames:
    """Check ``name`` (with or without the ``customrun-`` prefix; ``_`` and ``.`` read as ``-``) and ``kind``.

    Raises:
        CustomrunError: an unknown kind, or a name that cannot make a distribution and a package.
    """
    if kind not in PLUGIN_KINDS:
        hint = " or ".join(repr(k) for k in closest(kind, PLUGIN_KINDS)) or ", ".join(PLUGIN_KINDS)
        raise CustomrunError(f"unknown plugin kind {kind!r} (expected {hint})")
    short = registry.normalize_dist(name.strip())
    short = short.removeprefix(PREFIX)
    if not _NAME.fullmatch(short):
        raise CustomrunError(
            f"bad plugin name {name!r}: expected letters, digits and hyphens, starting with a letter "
            f"(e.g. warmup-hold, which makes customrun-warmup-hold)"
        )
    if short in _RESERVED:
        raise CustomrunError(f"bad plugin name {name!r}: {PREFIX}{short} is customrun itself")
    return PluginNames(short, kind)


def check_unclaimed(names: PluginNames) -> None:
    """Refuse a component name that an installed distribution, or a first-party plugin, already
    publishes in the same group (configs naming it would then have to pick one)."""
    group = PLUGIN_KINDS[names.kind].group
    claimed = registry.scan_entry_points().get(group, {}).get(names.component, ())
    owner = claimed[0].dist if claimed else registry.FIRST_PARTY.get((group, names.component))
    if owner is not None:
        raise CustomrunError(
            f"{registry.KINDS[group]} {names.component!r} is already provided by {owner} "
            f"(entry point group {registry.GROUP_PREFIX}{group}): choose another name"
        )


def core_requirement(version: str = __version__) -> str:
    """``customrun-core>=X.Y,<X.(Y+1)``: the minor release series of this core."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return f"customrun-core>={major}.{minor},<{major}.{minor + 1}"


def render_plugin(names: PluginNames) -> dict[str, str]:
    """Every file of the distribution: its path relative to the distribution's folder -> its text."""
    kind = PLUGIN_KINDS[names.kind]
    values = {
        "dist": names.dist,
        "package": names.package,
        "component": names.component,
        "module": kind.module,
        "group": registry.GROUP_PREFIX + kind.group,
        "kind_title": registry.KINDS[kind.group],
        "summary": kind.summary,
        "core_requirement": core_requirement(),
    }
    values["usage"] = _template(f"{names.kind}/usage.md", values)
    package, module = names.package, kind.module
    return {
        "pyproject.toml": _template("pyproject.toml", values),
        "README.md": _template("README.md", values),
        ".gitignore": _template("gitignore", values),
        f"{package}/__init__.py": _template("package_init.py", values),
        f"{package}/{module}.py": _template(f"{names.kind}/module.py", values),
        f"{package}/py.typed": "",
        f"tests/test_{module}.py": _template(f"{names.kind}/test.py", values),
    }


def _template(name: str, values: dict[str, str]) -> str:
    source = resources.files("customrun_core").joinpath(f"templates/new_plugin/{name}.tmpl")
    return string.Template(source.read_text(encoding="utf-8")).substitute(values)


def write_plugin(name: str, kind: str, parent: Path) -> tuple[PluginNames, Path]:
    """Write the distribution into ``parent/customrun-<name>``, which must not exist.

    Raises:
        CustomrunError: a bad name or kind, a component name already taken, or an existing folder.
    """
    names = plugin_names(name, kind)
    check_unclaimed(names)
    root = parent / names.dist
    if root.exists():
        raise CustomrunError(f"{root} already exists: not overwriting it")
    for relative, text in render_plugin(names).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return names, root


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind", required=True, metavar="|".join(PLUGIN_KINDS), help="The kind of component the plugin provides."
)
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="The folder to create customrun-NAME in.",
)
@traceback_option
def new_plugin(name: str, kind: str, parent: Path) -> None:
    """Write a ready plugin distribution customrun-NAME: a working component of the given kind,
    its entry point, a test, a README and a .gitignore."""
    names, root = write_plugin(name, kind, parent)
    group = registry.GROUP_PREFIX + PLUGIN_KINDS[kind].group
    click.echo(f"created {root}: {registry.KINDS[PLUGIN_KINDS[kind].group]} {names.component} ({group})")
    click.echo(f'next: cd {root} && pip install -e ".[test]" && pytest')
