"""Plugins use the public API only: every name a plugin in this repository imports from customrun_core
is in the ``__all__`` of the module it is imported from (DESIGN.md, "Public API").

Everything is read with ``ast``, the plugins' modules and customrun_core's ``__all__`` lists alike:
nothing is imported. A module without ``__all__`` is private as a whole.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import customrun_core

REPOSITORY = Path(__file__).resolve().parents[1]
CORE = Path(customrun_core.__file__).parent
PLUGIN_ROOTS = sorted(
    [*(REPOSITORY / "plugins").glob("*/"), *(REPOSITORY / "examples" / "plugins").glob("*/")]
)
TEMPLATES = CORE / "templates" / "new_plugin"


def core_source(module: str) -> Path | None:
    """The file of a customrun_core module (``customrun_core.optim`` -> optim/__init__.py), or None."""
    relative = Path(*module.split(".")[1:])
    for candidate in (CORE / relative / "__init__.py", (CORE / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def exported(module: str) -> frozenset[str] | None:
    """The names of the module's ``__all__`` (a literal list or tuple), None without one."""
    path = core_source(module)
    if path is None:
        return None
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            assert node.value is not None
            return frozenset(ast.literal_eval(node.value))
    return None


def private_imports(source: str) -> Iterator[tuple[int, str]]:
    """``(line, what)`` for each import of a customrun_core name that no ``__all__`` exports.

    ``from M import N`` needs N in M's ``__all__``, or N a submodule of M with an ``__all__`` of
    its own (``from customrun_core import registry``); ``import M`` needs M to have an ``__all__``.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_core(node.module or ""):
            module = node.module or ""
            names = exported(module)
            for alias in node.names:
                if alias.name not in (names or ()) and exported(f"{module}.{alias.name}") is None:
                    yield node.lineno, f"from {module} import {alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_core(alias.name) and exported(alias.name) is None:
                    yield node.lineno, f"import {alias.name}"


def _is_core(module: str) -> bool:
    return module == "customrun_core" or module.startswith("customrun_core.")


def plugin_modules() -> list[Path]:
    return sorted(path for root in PLUGIN_ROOTS for path in root.rglob("*.py") if "build" not in path.parts)


def template_source(path: Path) -> str:
    """A new-plugin template as the Python it becomes, its ``${placeholder}``s made names."""
    return re.sub(r"\$\{(\w+)\}", r"placeholder_\1", path.read_text(encoding="utf-8"))


def test_every_plugin_imports_only_exported_names() -> None:
    found = {
        f"{path.relative_to(REPOSITORY)}:{line}: {what}"
        for path in plugin_modules()
        for line, what in private_imports(path.read_text(encoding="utf-8"))
    }
    assert not found, "imports of names no __all__ of customrun_core exports:\n" + "\n".join(sorted(found))


def test_the_walk_covers_every_plugin_and_their_core_imports() -> None:
    """Not vacuous: each of the five plugins has modules that import from customrun_core."""
    assert {root.name for root in PLUGIN_ROOTS} >= {
        "customrun-amp", "customrun-cosine", "customrun-lars", "customrun-layer-decay", "customrun-ema",
    }  # fmt: skip
    for root in PLUGIN_ROOTS:
        sources = [path.read_text(encoding="utf-8") for path in root.rglob("*.py")]
        assert any("from customrun_core" in source for source in sources), root.name


def test_the_new_plugin_templates_import_only_exported_names() -> None:
    templates = sorted(TEMPLATES.rglob("*.py.tmpl"))
    assert len(templates) >= 10
    found = {
        f"{path.relative_to(CORE)}:{line}: {what}"
        for path in templates
        for line, what in private_imports(template_source(path))
    }
    assert not found, "\n".join(sorted(found))


@pytest.mark.parametrize(
    "source",
    [
        "from customrun_core.optim.paramwise import build_param_groups",  # a module without __all__
        "from customrun_core.models.wrappers import unwrap_model",  # exported, but by customrun_core
        "from customrun_core.optim import DEFAULT_CONSTRUCTOR",  # a name outside optim's __all__
        "from customrun_core.registry import _registered",
        "import customrun_core.optim.paramwise",
        "from customrun_core import runner",  # a submodule without __all__
        "def build():\n    from customrun_core.optim.wrapper import OptimWrapper\n",  # inside a function
    ],
)
def test_a_private_import_is_caught(source: str) -> None:
    assert len(list(private_imports(source))) == 1


def test_public_imports_pass() -> None:
    source = (
        "import torch\n"
        "from customrun_core import Hook, registry, unwrap_model\n"
        "from customrun_core.errors import ConfigError\n"
        "from customrun_core.optim import OptimWrapper, ParamGroups, build_param_groups\n"
        "from customrun_core.testing import tiny_config\n"
        "import customrun_core.schedulers\n"
        "from . import sibling\n"
    )
    assert list(private_imports(source)) == []


def test_the_modules_plugins_import_from_declare_all() -> None:
    for module in (
        "customrun_core",
        "customrun_core.errors",
        "customrun_core.optim",
        "customrun_core.schedulers",
    ):
        assert exported(module), module
    assert exported("customrun_core.optim.paramwise") is None
    assert {"OptimWrapperDict", "build_param_groups", "ParamGroups", "custom_key_path"} <= (
        exported("customrun_core.optim") or set()
    )
