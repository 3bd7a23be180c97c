"""``customrun new-plugin``: write a ready plugin distribution ``customrun-<name>``.

The distribution holds one small but working component of the chosen kind, registered under its
entry-point group, a test that trains a tiny model with it, a README and a ``.gitignore``. The
text comes from the templates in ``customrun_core/templates/new_plugin`` (``string.Template``).

Naming rule: the component's class and its entry point (what a config's ``type`` says) are ``NAME`` in
CamelCase, as the user wrote it (``lion`` -> ``Lion``, ``my_hook`` -> ``MyHook``, ``WarmupHold`` stays), so
``type = "Lion"`` works as soon as ``customrun-lion`` is installed; the distribution is ``customrun-<name>``
with ``name`` normalised as PEP 503 does (lower case, hyphens).
"""

from __future__ import annotations

import ast
import builtins
import functools
import keyword
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
# As written: letters and digits, in parts joined by "-", "_" or "."; the first part starts with a letter.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_.]+[A-Za-z0-9]+)*")
_WRITTEN_PREFIX = re.compile(r"customrun[-_.]+", re.IGNORECASE)
_RESERVED = ("core",)  # customrun-core is the core itself
_TORCH_OPTIM = "torch.optim"  # the owner of the optimizers that resolve without a plugin


@attrs.frozen
class PluginKind:
    """What ``--kind`` makes.

    Attributes:
        group: the registry kind; the entry-point group is ``customrun.<group>``.
        module: the package module that holds the component.
        summary: what the generated component does, for the description and the README.
    """

    group: str
    module: str
    summary: str


PLUGIN_KINDS: dict[str, PluginKind] = {
    "hook": PluginKind("hooks", "hook", "a hook that records the mean training loss of every epoch"),
    "optimizer": PluginKind("optimizers", "optimizer", "an optimizer, gradient descent with L2 weight decay"),
    "scheduler": PluginKind(
        "param_schedulers", "scheduler", "a learning rate falling linearly to a fraction of its base"
    ),
    "constructor": PluginKind(
        "optim_wrapper_constructors",
        "constructor",
        "an optim wrapper constructor with a learning rate that decays layer by layer",
    ),
    "loop": PluginKind("loops", "loop", "a training loop that cuts each epoch after a number of batches"),
    "wrapper": PluginKind(
        "optim_wrappers",
        "wrapper",
        "an optim wrapper that skips the steps whose gradients are not finite",
    ),
}


@attrs.frozen
class PluginNames:
    """The names of one plugin: ``customrun-warmup-hold``, ``customrun_warmup_hold``, ``WarmupHold``.

    Attributes:
        name: the normalised name without the prefix (``warmup-hold``).
        kind: the ``--kind``.
        component: the class and the entry point's name, NAME in CamelCase as written.
    """

    name: str
    kind: str
    component: str

    @property
    def dist(self) -> str:
        return PREFIX + self.name

    @property
    def package(self) -> str:
        return self.dist.replace("-", "_")


def component_name(written: str) -> str:
    """``written`` (without the prefix) in CamelCase: each part's first letter raised, the rest kept as
    written (``lion`` -> ``Lion``, ``my_hook`` -> ``MyHook``, ``WarmupHold`` -> ``WarmupHold``,
    ``warmup-hold-LR`` -> ``WarmupHoldLR``)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_.]+", written))


def plugin_names(name: str, kind: str) -> PluginNames:
    """Check ``name`` (with or without the ``customrun-`` prefix; parts joined by ``-``, ``_`` or ``.``)
    and ``kind``, and derive the plugin's names.

    Raises:
        CustomrunError: an unknown kind; a name that cannot make a distribution, a package and a class;
            or a class name that would shadow a Python built-in or a name the generated code uses.
    """
    if kind not in PLUGIN_KINDS:
        hint = " or ".join(repr(k) for k in closest(kind, PLUGIN_KINDS)) or ", ".join(PLUGIN_KINDS)
        raise CustomrunError(f"unknown plugin kind {kind!r} (expected {hint})")
    written = name.strip()
    if prefix := _WRITTEN_PREFIX.match(written):
        written = written[prefix.end() :]
    if not _NAME.fullmatch(written):
        raise CustomrunError(
            f"bad plugin name {name!r}: expected letters, digits and hyphens, starting with a letter "
            f"(e.g. warmup-hold, which makes customrun-warmup-hold and the class WarmupHold)"
        )
    short = registry.normalize_dist(written)
    if short in _RESERVED:
        raise CustomrunError(f"bad plugin name {name!r}: {PREFIX}{short} is customrun itself")
    component = component_name(written)
    if keyword.iskeyword(component) or hasattr(builtins, component):
        raise CustomrunError(
            f"bad plugin name {name!r}: its class {component} would shadow Python's built-in {component}"
        )
    if component in _template_names(kind):
        raise CustomrunError(
            f"bad plugin name {name!r}: its class {component} would clash with the name {component} "
            f"that the generated {kind} code imports or defines"
        )
    return PluginNames(short, kind, component)


@functools.cache
def _template_names(kind: str) -> frozenset[str]:
    """Every name the kind's module and test templates bind or read, the component's own aside."""
    found: set[str] = set()
    for part in ("module.py", "test.py"):
        source = _template_text(f"{kind}/{part}")
        tree = ast.parse(re.sub(r"\$\{(\w+)\}", r"placeholder_\1", source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                found.add(node.id)
            elif isinstance(node, ast.alias):
                found.add(node.asname or node.name.partition(".")[0])
            elif isinstance(node, ast.ClassDef | ast.FunctionDef):
                found.add(node.name)
    return frozenset(found)


def check_unclaimed(names: PluginNames) -> None:
    """Refuse a component name that this kind already resolves, or one differing from it only in case.

    The names are the entry points of installed distributions (the core's included), the first-party
    plugins', and for optimizers ``torch.optim``'s classes, which an entry point of the same name would
    replace in every config. ``type`` is case-sensitive, so ``Sgd`` next to ``SGD`` would let a slip of
    case pick the other optimizer: refused as well.

    Raises:
        CustomrunError: the name, or a name equal to it but for case, is taken.
    """
    group = PLUGIN_KINDS[names.kind].group
    title = registry.KINDS[group]
    scanned = registry.scan_entry_points().get(group, {})
    where = f"(entry point group {registry.GROUP_PREFIX}{group})"
    owners = {name: f"{entries[0].dist} {where}" for name, entries in scanned.items() if entries}
    for (kind, name), dist in registry.FIRST_PARTY.items():
        if kind == group:
            owners.setdefault(name, f"{dist} {where}")
    if group == "optimizers":  # known_names adds torch.optim's classes (and imports torch)
        for name in registry.known_names(group):
            owners.setdefault(name, _TORCH_OPTIM)
    wanted = names.component
    if wanted in owners:
        owner = owners[wanted]
        why = (
            ", which an entry point of that name would replace in every config"
            if owner == _TORCH_OPTIM
            else ""
        )
        raise CustomrunError(f"{title} {wanted!r} is already provided by {owner}{why}: choose another name")
    for name, owner in sorted(owners.items()):
        if name.casefold() == wanted.casefold():
            raise CustomrunError(
                f"{title} {wanted!r} differs only in case from {name!r}, provided by {owner}: choose another name"
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
    return string.Template(_template_text(name)).substitute(values)


def _template_text(name: str) -> str:
    source = resources.files("customrun_core").joinpath(f"templates/new_plugin/{name}.tmpl")
    return source.read_text(encoding="utf-8")


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
