"""A safe evaluator of MMEngine config expressions: Python's ``ast``, never ``exec``.

It computes what a config file's literals mean: numbers, strings, booleans, ``None``, dicts
(literal or ``dict(...)`` with keywords and ``**``), lists and tuples, arithmetic on numbers,
``+`` on strings and sequences, f-strings, subscripts, and names bound earlier in the file.
Whatever else it meets (a lambda, a call, attribute access, a comprehension) becomes an
:class:`Untranslatable` value in place, so that the caller can report it by key path and leave
it out; evaluation itself never fails on such input.
"""

from __future__ import annotations

import ast
import copy
import operator
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from customrun_core.convert import bounds

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
    ast.BitXor: operator.xor,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.Not: operator.not_,
    ast.Invert: operator.invert,
}
_WHAT = {  # how a report names a construct the evaluator refuses
    "Lambda": "a lambda",
    "ListComp": "a list comprehension",
    "SetComp": "a set comprehension",
    "DictComp": "a dict comprehension",
    "GeneratorExp": "a generator expression",
    "Set": "a set (TOML has none)",
    "IfExp": "a conditional expression",
    "Compare": "a comparison",
    "BoolOp": "an and/or expression",
    "NamedExpr": "an assignment expression",
    "Await": "an await",
    "Yield": "a yield",
    "YieldFrom": "a yield",
    "Slice": "a slice",
    "Starred": "a starred expression",
}
# MMEngine's predefined variables, replaced in the text of the file before it is parsed.
_PREDEFINED = re.compile(r"\{\{\s*(fileDirname|fileBasename|fileBasenameNoExtension|fileExtension)\s*\}\}")


@attrs.frozen
class Untranslatable:
    """A value convert cannot compute; ``reason`` says what it is, ``line`` where it was."""

    reason: str
    file: str
    line: int


class Evaluator:
    """Evaluates expressions of one config file.

    Args:
        file: the file's path (reports and ``{{ fileDirname }}`` use it).
        base: the merged values of the file's ``_base_`` files, for ``_base_.key`` and
            ``{{_base_.key}}``; ``None`` when the file has no ``_base_``.

    ``names`` holds what the file has bound so far (a name returns its value itself, not a copy,
    so mutations through subscripts alias as in Python); ``used`` collects every name read, by
    name or as ``_base_.name``. ``refused`` collects what went over a bound of :mod:`.bounds`
    (each an :class:`Untranslatable` in place, with the bound): the caller refuses the file.
    """

    def __init__(self, file: str, base: Mapping[str, Any] | None = None) -> None:
        self.file = file
        self.base = base
        self.names: dict[str, Any] = {}
        self.used: set[str] = set()
        self.refused: list[tuple[Untranslatable, str, str]] = []  # (value, bound, key)
        self.copied = 0  # items copied so far (bounds.MAX_TOTAL)

    def untranslatable(self, reason: str, node: ast.AST) -> Untranslatable:
        return Untranslatable(reason, self.file, getattr(node, "lineno", 0))

    def refuse(self, reason: str, bound: str, node: ast.AST) -> Untranslatable:
        """``reason`` as a value over ``bound``: recorded in :attr:`refused`."""
        refused = self.untranslatable(reason, node)
        self.refused.append((refused, bound, ""))
        return refused

    def size(self, value: Any, node: ast.AST) -> int | Untranslatable:
        """:meth:`bounds.Sizes.measure` of ``value``, or the refusal; nothing is measured once the
        file has copied too much (measuring costs as much as copying)."""
        if self.copied > bounds.MAX_TOTAL:
            return self.refuse(
                "evaluating the file copies too many items", f"{bounds.MAX_TOTAL:,} items", node
            )
        try:
            return bounds.Sizes().measure(value)
        except bounds.Refused as error:
            return self.refuse(str(error), "", node)

    def copy(self, count: int, node: ast.AST) -> Untranslatable | None:
        """Counts ``count`` items copied; a refusal once the file has copied too many."""
        self.copied += count
        if self.copied <= bounds.MAX_TOTAL:
            return None
        return self.refuse("evaluating the file copies too many items", f"{bounds.MAX_TOTAL:,} items", node)

    def evaluate(self, node: ast.expr) -> Any:
        """The value of ``node``, with :class:`Untranslatable` where a part cannot be computed
        (the whole result is one when the part decides it, e.g. an operand of ``+``)."""
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            what = _WHAT.get(type(node).__name__, f"a {type(node).__name__} expression")
            return self.untranslatable(f"{what} is not a literal", node)
        return method(node)

    # -- literals ------------------------------------------------------------------------------

    def _Constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, str):
            return _PREDEFINED.sub(lambda m: self._predefined(m.group(1)), value)
        if bounds.int_too_big(value):
            return self.refuse("an int literal too big", f"{bounds.MAX_INT_BITS:,} bits", node)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.untranslatable(f"the constant {value!r} has no TOML form", node)

    def _predefined(self, name: str) -> str:
        path = Path(self.file)
        return {
            "fileDirname": str(path.resolve().parent),
            "fileBasename": path.name,
            "fileBasenameNoExtension": path.stem,
            "fileExtension": path.suffix,
        }[name]

    def _List(self, node: ast.List | ast.Tuple) -> Any:
        items: list[Any] = []
        for element in node.elts:
            if isinstance(element, ast.Starred):
                value = self.evaluate(element.value)
                if isinstance(value, Untranslatable):
                    return value
                if not isinstance(value, list):
                    return self.untranslatable("* of something that is not a list or tuple", element)
                items.extend(value)
            else:
                items.append(self.evaluate(element))
        return self.copy(len(items), node) or items

    _Tuple = _List  # TOML has arrays only

    def _Dict(self, node: ast.Dict) -> Any:
        out: dict[str, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:  # {**other}
                problem = self._spread(out, value_node)
                if problem is not None:
                    return problem
                continue
            key = self.evaluate(key_node)
            if isinstance(key, Untranslatable):
                return key
            if not isinstance(key, str):
                return self.untranslatable(f"a table key must be a string, got {key!r}", key_node)
            out[key] = self.evaluate(value_node)
        return out

    def _spread(self, out: dict[str, Any], node: ast.expr) -> Untranslatable | None:
        value = self.evaluate(node)
        if isinstance(value, Untranslatable):
            return value
        if not isinstance(value, dict):
            return self.untranslatable("** of something that is not a dict", node)
        out.update(value)
        return self.copy(len(value), node)

    def _JoinedStr(self, node: ast.JoinedStr) -> Any:
        parts: list[str] = []
        length = 0
        for part in node.values:
            if isinstance(part, ast.Constant):
                text = str(part.value)
            else:
                assert isinstance(part, ast.FormattedValue)
                formatted = self._formatted(part)
                if isinstance(formatted, Untranslatable):
                    return formatted
                text = formatted
            parts.append(text)
            length += len(text)
            if length > bounds.MAX_SIZE:
                return self.refuse("an f-string too long", f"{bounds.MAX_SIZE:,} characters", node)
        return self.copy(length, node) or "".join(parts)

    def _formatted(self, part: ast.FormattedValue) -> str | Untranslatable:
        """One ``{value:spec}`` of an f-string; a width or precision over the bound is refused
        before :func:`format` would build the string."""
        value = self.evaluate(part.value)
        if isinstance(value, Untranslatable):
            return value
        if not isinstance(value, (str, int, float, bool)) or part.conversion not in (-1, 115):
            return self.untranslatable("an f-string part that is not a string or a number", part)
        value = str(value) if part.conversion == 115 else value  # !s
        spec = self.evaluate(part.format_spec) if part.format_spec is not None else ""
        if not isinstance(spec, str):
            return self.untranslatable("an f-string format that is not literal", part)
        if bounds.format_too_wide(spec):
            bound = f"{bounds.MAX_SIZE:,} characters"
            return self.refuse(f"the f-string format {spec[:20]!r} too wide", bound, part)
        try:
            return format(value, spec)
        except (ValueError, OverflowError) as error:
            return self.untranslatable(f"an f-string format fails: {error}", part)

    # -- names -----------------------------------------------------------------------------------

    def _Name(self, node: ast.Name) -> Any:
        if node.id == "_base_" and self.base is not None:
            return self.untranslatable("_base_ itself (only _base_.key is read)", node)
        if node.id not in self.names:
            return self.untranslatable(f"the name {node.id!r} is not bound earlier in the file", node)
        self.used.add(node.id)
        return self.names[node.id]

    def _Attribute(self, node: ast.Attribute) -> Any:
        path = _base_path(node)
        if path is not None and self.base is not None:
            return self._base_value(path, node)
        return self.untranslatable(f"attribute access {ast.unparse(node)}", node)

    def _base_value(self, path: list[str], node: ast.AST) -> Any:
        value: Any = self.base
        for depth, key in enumerate(path):
            if not isinstance(value, dict) or key not in value:
                where = ".".join(path[: depth + 1])
                return self.untranslatable(f"_base_ has no key {where}", node)
            value = value[key]
        self.used.add(path[0])
        size = self.size(value, node)  # the base's values passed their bounds: this counts the copy
        if isinstance(size, Untranslatable):
            return size
        return self.copy(size, node) or copy.deepcopy(value)  # MMEngine substitutes a copy

    def _Set(self, node: ast.Set) -> Any:
        # {{_base_.key}} parses as a set holding a set holding _base_.key
        inner = node.elts[0] if len(node.elts) == 1 else None
        if isinstance(inner, ast.Set) and len(inner.elts) == 1 and self.base is not None:
            path = _base_path(inner.elts[0])
            if path is not None:
                return self._base_value(path, node)
        return self.untranslatable(f"{_WHAT['Set']} is not a literal", node)

    def _Subscript(self, node: ast.Subscript) -> Any:
        container = self.evaluate(node.value)
        index = self.evaluate(node.slice)
        for value in (container, index):
            if isinstance(value, Untranslatable):
                return value
        try:
            if isinstance(container, dict) and isinstance(index, str):
                return container[index]
            if isinstance(container, (list, str)) and type(index) is int:
                return container[index]
        except (KeyError, IndexError):
            return self.untranslatable(f"{ast.unparse(node)}: no such key or index", node)
        return self.untranslatable(f"the subscript {ast.unparse(node)}", node)

    # -- operators -------------------------------------------------------------------------------

    def _BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.evaluate(node.left), self.evaluate(node.right)
        return self.binary(type(node.op), left, right, node)

    def binary(self, op: type[ast.operator], left: Any, right: Any, node: ast.AST) -> Any:
        """``left op right`` as Python computes it, for numbers (``+`` also joins strings, lists and
        dicts with ``|``); anything else, or a result too big to hold, is :class:`Untranslatable`."""
        for value in (left, right):
            if isinstance(value, Untranslatable):
                return value
        if op not in _BINARY or not _operands_allowed(op, left, right):
            return self.untranslatable(f"the operation {source_text(node)}", node)
        bound = bounds.binary_bound(op, left, right)
        if bound:
            return self.refuse(f"the result of {source_text(node)} is too big", bound, node)
        if op is ast.Mult and (isinstance(left, (str, list)) or isinstance(right, (str, list))):
            return self.repeat(left, right, node)
        try:
            result = _BINARY[op](left, right)
        except (ArithmeticError, ValueError) as error:
            return self.untranslatable(f"{source_text(node)} fails: {error}", node)
        if isinstance(result, complex):  # (-8) ** 0.5
            return self.untranslatable(f"the complex number {source_text(node)} has no TOML form", node)
        if bounds.int_too_big(result):
            bound = f"{bounds.MAX_INT_BITS:,} bits"
            return self.refuse(f"the result of {source_text(node)} is too big", bound, node)
        copied = len(result) if isinstance(result, (str, list, dict)) else 0
        return self.copy(copied, node) or result

    def repeat(self, left: Any, right: Any, node: ast.AST) -> Any:
        """``[0] * 3``, ``3 * 'ab'``: refused when the result, written out, would be too big (a list
        of lists holds each inner list's items once per repetition)."""
        sequence, count = (left, right) if isinstance(left, (str, list)) else (right, left)
        size = len(sequence) if isinstance(sequence, str) or not sequence else self.size(sequence, node)
        if isinstance(size, Untranslatable):
            return size
        if size * max(count, 0) > bounds.MAX_SIZE:
            bound = f"{bounds.MAX_SIZE:,} items and characters"
            return self.refuse(f"the result of {source_text(node)} is too big", bound, node)
        return self.copy(size * max(count, 0), node) or sequence * count

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.evaluate(node.operand)
        if isinstance(value, Untranslatable):
            return value
        if not _is_number(value) or (isinstance(node.op, ast.Invert) and isinstance(value, float)):
            return self.untranslatable(f"the operation {source_text(node)}", node)
        return _UNARY[type(node.op)](value)

    # -- calls -----------------------------------------------------------------------------------

    def _Call(self, node: ast.Call) -> Any:
        func = node.func
        if not (isinstance(func, ast.Name) and func.id == "dict" and "dict" not in self.names):
            return self.untranslatable(f"a call of {ast.unparse(func)}() convert does not know", node)
        out: dict[str, Any] = {}
        if len(node.args) > 1 or any(isinstance(a, ast.Starred) for a in node.args):
            return self.untranslatable("dict() with more than one positional argument", node)
        if node.args:
            problem = self._spread(out, node.args[0])
            if problem is not None:
                return problem
        for keyword in node.keywords:
            if keyword.arg is None:  # dict(**other)
                problem = self._spread(out, keyword.value)
                if problem is not None:
                    return problem
            else:
                out[keyword.arg] = self.evaluate(keyword.value)
        return out


def _base_path(node: ast.AST) -> list[str] | None:
    """``["a", "b"]`` for the expression ``_base_.a.b``; ``None`` for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "_base_" and parts:
        return parts[::-1]
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))  # bool is an int, as in Python


def _operands_allowed(op: type[ast.operator], left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        return op not in (ast.BitOr, ast.BitAnd, ast.BitXor) or not (
            isinstance(left, float) or isinstance(right, float)
        )
    if op is ast.Add:
        return type(left) is type(right) and isinstance(left, (str, list))
    if op is ast.Mult:  # repetition: [0] * 3, 3 * 'ab'
        return (isinstance(left, (str, list)) and type(right) is int) or (
            type(left) is int and isinstance(right, (str, list))
        )
    return op is ast.BitOr and isinstance(left, dict) and isinstance(right, dict)


def source_text(node: ast.AST, width: int = 60) -> str:
    """The source of ``node`` for a report, cut to ``width`` characters with ``...``."""
    text = ast.unparse(node)
    return text if len(text) <= width else text[: width - 3] + "..."
