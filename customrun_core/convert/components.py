"""Which ``type`` names customrun can resolve, found without importing any component.

Known names: the entry points of the kind (metadata only), ``torch.optim``'s optimizers, and the
classes that the config's ``custom_imports`` modules register with ``@register("kind")``, read
from their source with ``ast``. A first-party plugin's name that is not installed is kept, with
the distribution to install. A scoped MMEngine name ``scope.Name`` (one dot) becomes ``Name``
when customrun knows ``Name`` of that kind (customrun has no registry scopes).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import attrs

from customrun_core import registry
from customrun_core.errors import closest, did_you_mean


@attrs.frozen
class Verdict:
    """What to do with a ``type``: ``keep`` it (as ``name``), with an optional ``message`` to report."""

    keep: bool
    name: str
    message: str | None = None


class ComponentNames:
    """Answers "can customrun resolve ``type = name`` in this kind?" for one config.

    Args:
        custom_imports: the config's ``custom_imports.imports``.
        search_dirs: where those modules are looked for (customrun finds a module no installed
            package provides in the TOML file's directory, then the working directory).
    """

    def __init__(self, custom_imports: Iterable[str], search_dirs: Iterable[Path]) -> None:
        # kind -> names the modules register; modules whose source was not found
        self.registered: dict[str, set[str]] = {kind: set() for kind in registry.KINDS}
        self.unread: list[str] = []
        self._known_names: dict[str, set[str]] = {}
        dirs = list(search_dirs)
        for module in custom_imports:
            source = _module_file(module, dirs)
            names = _registered_names(source) if source is not None else None
            if names is None:
                self.unread.append(module)
                continue
            for kind, name in names:
                self.registered.setdefault(kind, set()).add(name)

    def check(self, kind: str, name: str) -> Verdict:
        """The verdict on ``type = name`` where a component of ``kind`` is built."""
        what = registry.KINDS[kind]
        if self._known(kind, name):
            return Verdict(True, name)
        plugin = registry.FIRST_PARTY.get((kind, name))
        if plugin is not None:
            return Verdict(True, name, f"{what} {name!r} needs the plugin {plugin}: pip install {plugin}")
        if ":" in name:
            return Verdict(
                True, name, f"{what} {name!r} is an import path, kept unchecked (convert imports nothing)"
            )
        _scope, dot, short = name.partition(".")
        if dot and "." not in short and (self._known(kind, short) or (kind, short) in registry.FIRST_PARTY):
            note = f"the scoped name {name!r} becomes {short!r} (customrun has no scopes)"
            inner = self.check(kind, short).message
            return Verdict(True, short, f"{note}; {inner}" if inner else note)
        hint = did_you_mean(closest(name, sorted(self._names(kind))))
        if self.unread:  # said, not assumed: a module convert cannot read may still register it
            modules = ", ".join(repr(m) for m in self.unread)
            hint += f" (custom_imports {modules}: no source found to look for it)"
        return Verdict(False, name, f"unknown {what} {name!r}: no customrun twin{hint}")

    def _known(self, kind: str, name: str) -> bool:
        if name in self.registered.get(kind, ()) or registry.entries_for(kind, name):
            return True
        # torch.optim's names: the one lookup that imports torch, and only for an optimizer
        return kind == "optimizers" and name in self._names(kind)

    def _names(self, kind: str) -> set[str]:
        """Every name of ``kind`` customrun knows here: the registry's and the modules' own."""
        if kind not in self._known_names:
            self._known_names[kind] = set(registry.known_names(kind)) | self.registered.get(kind, set())
        return self._known_names[kind]


def _module_file(module: str, dirs: list[Path]) -> Path | None:
    """The source file of ``module`` (``a.b`` as ``a/b.py`` or ``a/b/__init__.py``) in ``dirs``."""
    parts = module.split(".")
    for directory in dirs:
        for candidate in (
            directory.joinpath(*parts).with_suffix(".py"),
            directory.joinpath(*parts, "__init__.py"),
        ):
            if candidate.is_file():
                return candidate
    return None


def _registered_names(source: Path) -> list[tuple[str, str]] | None:
    """``(kind, name)`` of each class the file decorates with ``@register("kind"[, "name"])``;
    ``None`` when the file cannot be read or parsed."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return None
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            continue
        for decorator in node.decorator_list:
            named = _register_call(decorator)
            if named is not None:
                kind, name = named
                found.append((kind, name or node.name))
    return found


def _register_call(node: ast.expr) -> tuple[str, str | None] | None:
    """``("hooks", None)`` for ``register("hooks")``, ``("hooks", "X")`` for ``register("hooks", "X")``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    func_name = (
        func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    )
    if func_name != "register":
        return None
    given = dict(zip(("kind", "name"), node.args, strict=False))
    given.update((k.arg, k.value) for k in node.keywords if k.arg in ("kind", "name"))
    kind, name = (_string(given.get(key)) for key in ("kind", "name"))
    return (kind, name) if kind is not None else None


def _string(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
