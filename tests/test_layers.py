"""The import structure of customrun_core: no import cycle, and the layers of DESIGN.md point down.

Everything is read statically with ``ast``, nothing is imported. Two kinds of import count:

- for cycles, what runs when a module is imported: imports at module level (inside a top-level
  ``if``, ``try`` or class body too), not those under ``if TYPE_CHECKING:`` and not those inside
  functions (deliberate lazy imports). An import of ``a.b.c`` counts as an edge to ``a.b.c`` only:
  the package ``__init__`` modules Python runs first are parents, not dependencies;
- for layers, every import anywhere in a module, lazy and type-only ones included: a layer that
  imports another only inside a function still knows it ("Each layer knows only the ones below
  it": DESIGN.md, "How a run flows").
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterator, Mapping, Set
from pathlib import Path
from typing import NamedTuple

import pytest

import customrun_core

PACKAGE = "customrun_core"
ROOT = Path(customrun_core.__file__).resolve().parent

ImportNode = ast.Import | ast.ImportFrom


class Module(NamedTuple):
    """One module of a package: the package modules its import runs, every dotted name it imports."""

    runtime: frozenset[str]
    every: frozenset[str]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(body: list[ast.stmt]) -> Iterator[ImportNode]:
    """The import statements that run when the module runs (not in functions, not type-only)."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _runtime_imports(node.orelse)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for block in ("body", "orelse", "finalbody", "handlers"):
                yield from _runtime_imports(getattr(node, block, []))


def _names(module: str, is_package: bool, node: ImportNode) -> list[str]:
    """The dotted names ``node`` imports: ``a.b`` for ``import a.b``; for ``from a import b``
    both ``a`` and ``a.b`` (``b`` may be a submodule or a name defined in ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[: len(package) - node.level + 1]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _target(names: list[str], node: ImportNode, modules: set[str]) -> set[str]:
    """The package's modules an import statement runs (for ``from a import b``: ``a.b`` when it
    is a module, else ``a``)."""
    if isinstance(node, ast.Import):
        return {name for name in names if name in modules}
    base, *members = names
    return {member if member in modules else base for member in members} & modules


def read_package(root: Path, package: str) -> dict[str, Module]:
    """Every module below ``root`` (the directory of ``package``) with its imports."""
    paths = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    modules = set(paths)
    result = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        every = {
            n
            for node in ast.walk(tree)
            if isinstance(node, ImportNode)
            for n in _names(name, is_package, node)
        }
        runtime = set()
        for node in _runtime_imports(tree.body):
            runtime |= _target(_names(name, is_package, node), node, modules)
        result[name] = Module(frozenset(runtime - {name}), frozenset(every))
    return result


def find_cycle(graph: Mapping[str, Set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None when it has none."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor in on_path:
                return [*path[path.index(successor) :], successor]
            if successor not in done and (cycle := visit(successor)):
                return cycle
        on_path.discard(path.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)):
            return cycle
    return None


@functools.cache
def core() -> dict[str, Module]:
    return read_package(ROOT, PACKAGE)


# -- cycles -----------------------------------------------------------------------------------


def test_the_package_is_read() -> None:
    modules = core()
    assert {"customrun_core", "customrun_core.runner", "customrun_core.cli", "customrun_core.batch"} <= set(
        modules
    )
    assert "customrun_core.errors" in modules["customrun_core.speed"].runtime


def test_no_import_cycle_inside_customrun_core() -> None:
    cycle = find_cycle({name: module.runtime for name, module in core().items()})
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_on_a_package_with_one_cycle(tmp_path: Path) -> None:
    """The reader and the finder against a hand-made package whose only cycle is a -> b -> a;
    lazy, type-only and parent-package imports are not edges."""
    files = {
        "__init__.py": "from pkg import c\n",
        "a.py": "import os\nfrom pkg import b\n",
        "b.py": "try:\n    from .sub.d import X\nexcept ImportError:\n    pass\nclass K:\n    from . import a\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\ndef f():\n    import pkg\n",
        "sub/__init__.py": "",
        "sub/d.py": "from .. import c\nX = 1\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = read_package(tmp_path, "pkg")
    graph = {name: module.runtime for name, module in modules.items()}
    assert graph == {
        "pkg": {"pkg.c"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.sub.d", "pkg.a"},
        "pkg.c": set(),
        "pkg.sub": set(),
        "pkg.sub.d": {"pkg.c"},
    }
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
    assert {"pkg.a", "pkg", "typing.TYPE_CHECKING"} <= modules["pkg.c"].every  # layers see every import
    del graph["pkg.b"]
    assert find_cycle(graph) is None


# -- layers -----------------------------------------------------------------------------------


class Rule(NamedTuple):
    """Modules matching ``applies`` import no name that ``forbids`` matches."""

    applies: Callable[[str], bool]
    forbids: Callable[[str], bool]


def _within(*prefixes: str) -> Callable[[str], bool]:
    return lambda name: any(name == p or name.startswith(p + ".") for p in prefixes)


def _core(*names: str) -> Callable[[str], bool]:
    return _within(*(f"{PACKAGE}.{name}" for name in names))


# __main__ (python -m customrun_core) is the command line itself; testing.py runs commands
# through click's CliRunner for plugin authors: both sit above the CLI, not below it.
_ABOVE_CLI = _core("cli", "__main__", "testing")

RULES = {
    "only the CLI knows the CLI": Rule(lambda m: not _ABOVE_CLI(m), _core("cli")),
    "config imports no runner, loops, hooks": Rule(_core("config"), _core("runner", "loops", "hooks")),
    "the plugin machinery never imports the runner": Rule(
        _core("registry", "plugin_policy", "plugins"), _core("runner")
    ),
    "schedulers import no loops, hooks, datasets": Rule(
        _core("schedulers"), _core("loops", "hooks", "datasets")
    ),
    "data and the batch helpers import no runner, loops, hooks": Rule(
        _core("datasets", "batch", "speed"), _core("runner", "loops", "hooks")
    ),
    "the core imports no plugin by name": Rule(
        lambda m: True, lambda n: n.split(".")[0].startswith("customrun_") and n.split(".")[0] != PACKAGE
    ),
}


def breaches(rule_name: str, module: str) -> list[str]:
    """What ``module`` imports against the rule (nothing for a module the package lacks)."""
    imported = core()[module].every if module in core() else frozenset()
    wrong = {name for name in imported if RULES[rule_name].forbids(name)}
    return sorted(name for name in wrong if name.rpartition(".")[0] not in wrong)  # a module, not its names


@pytest.mark.parametrize("rule_name", list(RULES))
def test_layers_point_down(rule_name: str) -> None:
    modules = [m for m in core() if RULES[rule_name].applies(m)]
    assert modules, "a rule that applies to no module checks nothing"
    wrong = {m: breaches(rule_name, m) for m in modules if breaches(rule_name, m)}
    assert not wrong, f"{rule_name}: " + "; ".join(f"{m} imports {', '.join(n)}" for m, n in wrong.items())
