"""The top-level statements of an MMEngine config file, followed without running any of them.

Assignments (``a = ...``, ``a = b = ...``, ``a, b = 1, 2``, ``a: int = ...``, ``a += ...``,
``a['k'] = ...``) and ``del a`` are followed; imports, functions and classes bind names that are
no config keys (MMEngine drops modules and functions from a config too); any other statement is
reported and what it would have bound is left out.
"""

from __future__ import annotations

import ast
from typing import Any

import attrs

from customrun_core.convert import bounds
from customrun_core.convert.evaluate import Evaluator, Untranslatable, source_text
from customrun_core.convert.report import Report

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
        return self.result

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
            if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
                self.report(node, f"the expression {_short(node.value)} is not run")
        elif not isinstance(node, ast.Pass):
            self.report(node, self._not_run(node))

    def _not_run(self, node: ast.stmt) -> str:
        if isinstance(node, ast.With) and "read_base" in ast.unparse(node.items[0].context_expr):
            return "MMEngine's pure-Python style (with read_base()) is not supported: use _base_ = [...]"
        kind = _STATEMENT_NAMES.get(type(node).__name__, type(node).__name__)
        return f"a top-level {kind} statement is not run; what it binds is left out"

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
            self.report(node, f"the assignment to {_short(target)} is not translated")

    def augmented(self, node: ast.AugAssign) -> None:
        if not isinstance(node.target, ast.Name):
            self.report(node, f"the assignment to {_short(node.target)} is not translated")
            return
        name = node.target.id
        current = self.evaluator.evaluate(node.target)
        value = self.evaluator.evaluate(node.value)
        # Python's += extends a list in place (every alias sees it); |= updates a dict in place
        if isinstance(node.op, ast.Add) and isinstance(current, list) and isinstance(value, list):
            current.extend(value)
            current = self.evaluator.copy(len(value), node) or current
        elif isinstance(node.op, ast.BitOr) and isinstance(current, dict) and isinstance(value, dict):
            current.update(value)
            current = self.evaluator.copy(len(value), node) or current
        else:
            current = self.evaluator.binary(type(node.op), current, value, node)
        self.bind(name, current, node)

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
                self.report(node, f"del {_short(target)} is not translated")


def _short(node: ast.AST) -> str:
    return source_text(node, 50)


def _written(node: ast.stmt) -> set[str]:
    """The names a statement assigns to, or changes in place (``a`` of ``a['k'] = v``, ``a += 1``)."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    else:
        return set()
    names: set[str] = set()
    for target in targets:
        for part in target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]:
            root = part
            while isinstance(root, ast.Subscript):
                root = root.value
            if isinstance(root, ast.Name):
                names.add(root.id)
    return names
