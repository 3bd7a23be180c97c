"""The top-level statements of an MMEngine config file, followed without running any of them.

Assignments (``a = ...``, ``a = b = ...``, ``a, b = 1, 2``, ``a: int = ...``, ``a += ...``,
``a['k'] = ...``, ``a[1]['k'] += [...]``), ``del a`` and the in-place methods of the dicts and lists
the file built (``a.update(...)``, ``a.append(x)``, ``a.extend([...])``, ``a.insert(i, x)``) are
followed; imports, functions and classes bind names that are no config keys (MMEngine drops modules
and functions from a config too). Any other statement is reported, with every key path whose value
it may change (the names it assigns, deletes or calls methods of, and every place in the file's
values that holds the same dict or list): the values there are the ones from before it.
"""

from __future__ import annotations

import ast
from typing import Any

import attrs

from customrun_core.convert import bounds
from customrun_core.convert.evaluate import Evaluator, Untranslatable, source_text
from customrun_core.convert.report import Report, key_path

_STATEMENT_NAMES = {
    "If": "if",
    "For": "for",
    "AsyncFor": "for",
    "While": "while",
    "Try": "try",
    "TryStar": "try",
    "With": "with",
    "AsyncWith": "with",
    "Assert": "assert",
    "Raise": "raise",
    "Global": "global",
    "Nonlocal": "nonlocal",
    "Match": "match",
    "Return": "return",
}


@attrs.define
class FileValues:
    """What a file's statements bound: ``values`` in binding order, each name's ``lines``
    (its last assignment), ``hidden`` names (imports, functions, classes: no config keys), the
    names ``read`` by a statement other than one assigning to them (helper variables: a key
    that only its own statements read, ``a['k'] = 1`` or ``a += 1``, is still a key)."""

    values: dict[str, Any] = attrs.field(factory=dict)
    lines: dict[str, int] = attrs.field(factory=dict)
    hidden: set[str] = attrs.field(factory=set)
    read: set[str] = attrs.field(factory=set)
    reports: list[Report] = attrs.field(factory=list)


def is_base_assignment(statement: ast.stmt) -> bool:
    """``_base_ = ...``: read before the other statements, as MMEngine does."""
    return (
        isinstance(statement, ast.Assign)
        and len(statement.targets) == 1
        and isinstance(statement.targets[0], ast.Name)
        and statement.targets[0].id == "_base_"
    )


class StatementRunner:
    """Follows a module's statements with ``evaluator``; its ``names`` become the file's values."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.result = FileValues()
        # statements not run: (statement, what it is, [(name, its value then, key parts below it)])
        self.not_run: list[tuple[ast.stmt, str, list[tuple[str, Any, list[str | int]]]]] = []

    def run(self, tree: ast.Module) -> FileValues:
        for statement in tree.body:
            if not is_base_assignment(statement):
                self.evaluator.used.clear()
                self.statement(statement)
                self.result.read |= self.evaluator.used - _written(statement)
        names = self.evaluator.names
        self.result.values = {name: names[name] for name in names if name not in self.result.hidden}
        if not self.evaluator.refused:  # the first refusal is the one reported
            self.measure()
        for node, what, changed in self.not_run:
            self.report_changed(node, what, changed)
        self.result.reports.sort(key=lambda report: report.line)  # in the file's order
        return self.result

    def skip(self, node: ast.stmt, what: str) -> None:
        """``node`` (``what`` names it) is not run: reported with what it may change, once the file's
        values are final (a dict it changes may be placed in a table after it)."""
        changed = [(name, self.evaluator.names.get(name), parts) for name, parts in _changed(node)]
        if not changed:
            self.report(node, f"{what} is not run")
        self.not_run.append((node, what, changed))

    def report_changed(
        self, node: ast.stmt, what: str, changed: list[tuple[str, Any, list[str | int]]]
    ) -> None:
        keys: list[str] = []
        for name, value, parts in changed:
            places = _places(self.result.values, value) if isinstance(value, (dict, list)) else []
            if name not in self.result.hidden and not places:
                places = [[name]]
            keys += [key_path([*place, *parts]) for place in places if key_path([*place, *parts]) not in keys]
        for key in keys:
            self.report(
                node, f"may be changed by {what}, which is not run: the value here is from before it", key
            )

    def measure(self) -> None:
        """Refuses (in the evaluator's ``refused``) the first value over a bound of :mod:`.bounds` as
        it would be written out: aliases and in-place changes can build one no expression shows."""
        sizes, total = bounds.Sizes(), 0
        for name, value in self.result.values.items():
            refused = ""
            try:
                total += sizes.measure(value)
            except bounds.Refused as error:
                refused, bound = str(error), ""
            if total > bounds.MAX_TOTAL:
                refused, bound = (
                    "the file's values, with this one, hold too many items",
                    f"{bounds.MAX_TOTAL:,} items",
                )
            if refused:
                line = self.result.lines.get(name, 0)
                self.evaluator.refused.append(
                    (Untranslatable(refused, self.evaluator.file, line), bound, name)
                )
                return

    def report(self, node: ast.AST, message: str, key: str = "") -> None:
        self.result.reports.append(Report(self.evaluator.file, getattr(node, "lineno", 0), key, message))

    def bind(self, name: str, value: Any, node: ast.AST) -> None:
        self.evaluator.names.pop(name, None)  # a rebound name moves to the end, as in the file
        self.evaluator.names[name] = value
        self.result.lines[name] = getattr(node, "lineno", 0)
        self.result.hidden.discard(name)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            value = self.evaluator.evaluate(node.value)
            for target in node.targets:
                self.assign(target, value, node)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.assign(node.target, self.evaluator.evaluate(node.value), node)
        elif isinstance(node, ast.AugAssign):
            self.augmented(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            self.imported(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            what = "class" if isinstance(node, ast.ClassDef) else "function"
            self.bind(node.name, self.evaluator.untranslatable(f"a {what} defined in the file", node), node)
            self.result.hidden.add(node.name)
        elif isinstance(node, ast.Delete):
            self.delete(node)
        elif isinstance(node, ast.Expr):
            docstring = isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            if not docstring and not self.method_call(node.value):
                self.skip(node, f"the expression {_short(node.value)}")
        elif isinstance(node, ast.With) and "read_base" in ast.unparse(node.items[0].context_expr):
            self.report(
                node, "MMEngine's pure-Python style (with read_base()) is not supported: use _base_ = [...]"
            )
        elif not isinstance(node, ast.Pass):
            kind = _STATEMENT_NAMES.get(type(node).__name__, type(node).__name__)
            self.skip(node, f"a top-level {kind} statement")

    def method_call(self, node: ast.expr) -> bool:
        """Runs ``a.update(...)``, ``a.append(x)``, ``a.extend([...])`` or ``a.insert(i, x)`` on a dict or
        list the file built (bound to a name, not a copy of a base's value); False for anything else."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            return False
        if _root(node.func.value) is None or any(isinstance(a, ast.Starred) for a in node.args):
            return False
        if any(k.arg is None for k in node.keywords):
            return False
        receiver = self.evaluator.evaluate(node.func.value)
        args = [self.evaluator.evaluate(a) for a in node.args]
        kwargs = {k.arg: self.evaluator.evaluate(k.value) for k in node.keywords if k.arg is not None}
        method, count = node.func.attr, 1
        if isinstance(receiver, dict) and method == "update" and len(args) <= 1:
            if args and not isinstance(args[0], dict):
                return False
            added = {**(args[0] if args else {}), **kwargs}
            receiver.update(added)
            count = len(added)
        elif not isinstance(receiver, list) or kwargs:
            return False
        elif method == "append" and len(args) == 1:
            receiver.append(args[0])
        elif method == "extend" and len(args) == 1 and isinstance(args[0], list):
            receiver.extend(args[0])
            count = len(args[0])
        elif method == "insert" and len(args) == 2 and type(args[0]) is int:
            receiver.insert(args[0], args[1])
        else:
            return False
        self.evaluator.copy(count, node)  # over the bound: recorded, the file is refused
        return True

    def assign(self, target: ast.expr, value: Any, node: ast.stmt) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, value, node)
        elif isinstance(target, (ast.Tuple, ast.List)):
            names = [t.id for t in target.elts if isinstance(t, ast.Name)]
            if len(names) != len(target.elts) or not isinstance(value, list) or len(value) != len(names):
                self.report(node, f"the unpacking {_short(target)} = ... is not translated")
                return
            for name, item in zip(names, value, strict=True):
                self.bind(name, item, node)
        elif isinstance(target, ast.Subscript):
            self.assign_item(target, value, node)
        else:
            self.report(node, f"the assignment to {_short(target)} is not translated")

    def assign_item(self, target: ast.Subscript, value: Any, node: ast.stmt) -> None:
        """``a['k'] = v`` / ``a[0] = v``: the value bound to ``a`` changes in place, as in Python."""
        container = self.evaluator.evaluate(target.value)
        index = self.evaluator.evaluate(target.slice)
        in_dict = isinstance(container, dict) and isinstance(index, str)
        in_list = (
            isinstance(container, list) and type(index) is int and -len(container) <= index < len(container)
        )
        if in_dict or in_list:
            container[index] = value
        else:
            self.skip(node, f"the assignment to {_short(target)}")

    def augmented(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Subscript):  # a['k'] += [...]: a['k'] = a['k'] + ..., in place
            current = self.evaluator.evaluate(node.target)
            value = self.evaluator.evaluate(node.value)
            self.assign_item(node.target, self.combined(node, current, value), node)
            return
        if not isinstance(node.target, ast.Name):
            self.skip(node, f"the assignment to {_short(node.target)}")
            return
        name = node.target.id
        current = self.evaluator.evaluate(node.target)
        value = self.evaluator.evaluate(node.value)
        self.bind(name, self.combined(node, current, value), node)

    def combined(self, node: ast.AugAssign, current: Any, value: Any) -> Any:
        """``current op= value`` as Python computes it: lists extended and dicts updated in place."""
        # Python's += extends a list in place (every alias sees it); |= updates a dict in place
        if isinstance(node.op, ast.Add) and isinstance(current, list) and isinstance(value, list):
            current.extend(value)
            current = self.evaluator.copy(len(value), node) or current
        elif isinstance(node.op, ast.BitOr) and isinstance(current, dict) and isinstance(value, dict):
            current.update(value)
            current = self.evaluator.copy(len(value), node) or current
        else:
            current = self.evaluator.binary(type(node.op), current, value, node)
        return current

    def imported(self, node: ast.Import | ast.ImportFrom) -> None:
        module = node.module if isinstance(node, ast.ImportFrom) else None
        for alias in node.names:
            if alias.name == "*":
                self.report(node, f"from {module} import * is not followed; its names are unknown")
                continue
            name = alias.asname or alias.name.split(".")[0]
            source = f"{module}.{alias.name}" if module else alias.name
            reason = f"{name} is imported from {source} (a Python object, not a config value)"
            self.bind(name, Untranslatable(reason, self.evaluator.file, node.lineno), node)
            self.result.hidden.add(name)

    def delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id in self.evaluator.names:
                del self.evaluator.names[target.id]
                self.result.lines.pop(target.id, None)
            else:
                self.skip(node, f"del {_short(target)}")


def _short(node: ast.AST) -> str:
    return source_text(node, 50)


def _written(node: ast.stmt) -> set[str]:
    """The names a statement assigns to, or changes in place (``a`` of ``a['k'] = v``, ``a += 1``)."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):  # a.update(...)
        func = node.value.func
        targets = [func.value] if isinstance(func, ast.Attribute) else []
    else:
        return set()
    names: set[str] = set()
    for target in targets:
        for part in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
            root = part
            while isinstance(root, (ast.Subscript, ast.Attribute)):
                root = root.value
            if isinstance(root, ast.Name):
                names.add(root.id)
    return names


def _root(node: ast.expr) -> str | None:
    """``a`` for ``a``, ``a['k']``, ``a[0]['k']``: the name whose value such a target changes."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) and node.id != "_base_" else None


def _parts(node: ast.expr) -> list[str | int]:
    """The literal keys below the name of a target (``['k', 0]`` for ``a['k'][0]``), up to the
    first one that is not a literal."""
    parts: list[str | int] = []
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        index = (
            node.slice.value
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            else None
        )
        parts = [index, *parts] if isinstance(index, (str, int)) else []
        node = node.value
    return parts


def _changed(statement: ast.stmt) -> list[tuple[str, list[str | int]]]:
    """(name, key parts below it) of everything ``statement`` may change: what it assigns, deletes
    or binds (``for`` targets, functions, imports), what it calls a method of, what it passes to a call."""
    found: list[tuple[str, list[str | int]]] = []
    for node in ast.walk(statement):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.NamedExpr)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            targets = [node.optional_vars]
        elif isinstance(node, ast.Call):
            receiver = [node.func.value] if isinstance(node.func, ast.Attribute) else []
            targets = receiver + [a for a in node.args if isinstance(a, (ast.Name, ast.Subscript))]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.append((node.name, []))
        for target in targets:
            for part in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
                root = _root(part.value if isinstance(part, ast.Starred) else part)
                if root is not None and (root, _parts(part)) not in found:
                    found.append((root, _parts(part)))
    return found


def _places(values: dict[str, Any], target: Any) -> list[list[str | int]]:
    """Every key path in ``values`` that holds ``target`` itself (the same dict or list)."""
    found: list[list[str | int]] = []
    stack: list[tuple[Any, list[str | int]]] = [(v, [k]) for k, v in reversed(values.items())]
    while stack:
        value, path = stack.pop()
        if value is target:
            found.append(path)
            continue
        if isinstance(value, dict):
            stack += [(v, [*path, k]) for k, v in reversed(value.items())]
        elif isinstance(value, list):
            stack += [(v, [*path, i]) for i, v in reversed(list(enumerate(value)))]
    return found
