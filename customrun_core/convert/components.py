"""Which ``type`` names customrun can resolve, found without importing any component.

Known names: the entry points of the kind (metadata only), ``torch.optim``'s optimizers, and the
classes that the config's ``custom_imports`` modules register with ``@register("kind")``, read
from their source with ``ast``. A first-party plugin's name that is not installed is kept, with
the distribution to install. A scoped MMEngine name ``scope.Name`` (one dot) becomes ``Name``
when customrun knows ``Name`` of that kind (customrun has no registry scopes).
"""

from __future__ import annotations

import ast
import inspect
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


# OpenMMLab's packages: a custom_imports module of one (``mmdet.models``, ``mmpretrain.models``) that is
# not found registers MMEngine's components, which customrun does not import; a deeper module
# (``mmseg.engine.hooks.new_hook``, a file a project adds to the package's tree) is the user's own.
OPENMMLAB = frozenset({
    "mmengine", "mmcv", "mmdet", "mmdet3d", "mmpretrain", "mmcls", "mmseg", "mmsegmentation", "mmselfsup",
    "mmpose", "mmocr", "mmaction", "mmrotate", "mmyolo", "mmagic", "mmedit", "mmtrack", "mmrazor",
    "mmfewshot", "mmflow", "mmhuman3d", "mmgen", "mmdeploy",
})  # fmt: skip


def mmengine_side(module: str) -> bool:
    """Whether ``module`` is a package module of an OpenMMLab package (two parts at most)."""
    parts = module.split(".")
    return parts[0] in OPENMMLAB and len(parts) <= 2


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
        self.unread: list[str] = []  # the user's own modules convert did not find
        self.mmengine_side: list[str] = []  # OpenMMLab package modules not found: left out
        self.own_kept: list[str] = []  # key paths of types kept as the unread modules' own
        # (kind, name) -> the __init__ signature read from the module's source (None: none to read)
        self.signatures: dict[tuple[str, str], inspect.Signature | None] = {}
        # what a config keeps that convert does not import: checked against stand-ins (preflight)
        self.stand_ins: dict[tuple[str, str], inspect.Signature | None] = {}
        self._known_names: dict[str, set[str]] = {}
        dirs = list(search_dirs)
        for module in custom_imports:
            source = _module_file(module, dirs)
            names = _registered_names(source) if source is not None else None
            if names is None:
                (self.mmengine_side if mmengine_side(module) else self.unread).append(module)
                continue
            for kind, name, signature in names:
                self.registered.setdefault(kind, set()).add(name)
                self.signatures[(kind, name)] = signature

    def check(self, kind: str, name: str, key: str = "", own: bool = True) -> Verdict:
        """The verdict on ``type = name`` where a component of ``kind`` is built (at ``key``). With
        ``own``, an unknown plain name is kept as the user's own when a ``custom_imports`` module of
        theirs was not found (it may register it): it must be importable when training."""
        what = registry.KINDS[kind]
        if name in self.registered.get(kind, ()):  # registered in-process first, as at train time
            self.stand_ins[(kind, name)] = self.signatures.get((kind, name))
            return Verdict(True, name)
        if self._known(kind, name):
            return Verdict(True, name)
        plugin = registry.FIRST_PARTY.get((kind, name))
        if plugin is not None:
            self.stand_ins[(kind, name)] = None
            return Verdict(True, name, f"{what} {name!r} needs the plugin {plugin}: pip install {plugin}")
        if ":" in name:
            self.stand_ins[(kind, name)] = None
            return Verdict(
                True, name, f"{what} {name!r} is an import path, kept unchecked (convert imports nothing)"
            )
        _scope, dot, short = name.partition(".")
        if dot and "." not in short and (self._known(kind, short) or (kind, short) in registry.FIRST_PARTY):
            note = f"the scoped name {name!r} becomes {short!r} (customrun has no scopes)"
            inner = self.check(kind, short).message
            return Verdict(True, short, f"{note}; {inner}" if inner else note)
        if own and self.unread and "." not in name:
            self.stand_ins[(kind, name)] = None
            self.own_kept.append(key)
            return Verdict(True, name)
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


def _registered_names(source: Path) -> list[tuple[str, str, inspect.Signature | None]] | None:
    """``(kind, name, signature)`` of each class the file decorates with ``@register("kind"[, "name"])``,
    with the signature its source gives (:func:`_source_signature`); ``None`` when the file cannot
    be read or parsed."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError):
        return None
    found: list[tuple[str, str, inspect.Signature | None]] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            continue
        for decorator in node.decorator_list:
            named = _register_call(decorator)
            if named is not None:
                kind, name = named
                found.append((kind, name or node.name, _source_signature(node)))
    return found


def _source_signature(node: ast.ClassDef | ast.FunctionDef) -> inspect.Signature | None:
    """The call signature a class's own ``__init__`` (or a function) has in the source: names,
    kinds and whether each has a default (annotations are not evaluated); ``None`` for a class
    without its own ``__init__`` (what it inherits is not read)."""
    function: ast.FunctionDef | None = node if isinstance(node, ast.FunctionDef) else None
    if isinstance(node, ast.ClassDef):
        inits = [s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"]
        function = inits[0] if inits else None
    if function is None:
        return None
    args = function.args
    P = inspect.Parameter
    positional = [(a, P.POSITIONAL_ONLY) for a in args.posonlyargs] + [
        (a, P.POSITIONAL_OR_KEYWORD) for a in args.args
    ]
    if isinstance(node, ast.ClassDef):
        positional = positional[1:]  # self
    first_default = len(positional) - len(args.defaults)
    params = [
        P(a.arg, kind, default=None if i >= first_default else P.empty)
        for i, (a, kind) in enumerate(positional)
    ]
    if args.vararg is not None:
        params.append(P(args.vararg.arg, P.VAR_POSITIONAL))
    for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        params.append(P(arg.arg, P.KEYWORD_ONLY, default=P.empty if default is None else None))
    if args.kwarg is not None:
        params.append(P(args.kwarg.arg, P.VAR_KEYWORD))
    try:
        return inspect.Signature(params)
    except ValueError:  # an order Python itself refuses: nothing to check against
        return None


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
