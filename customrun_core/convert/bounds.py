"""How big and how deep a config file convert reads may make anything, and the checks.

A hostile ``.py`` file can ask for values no config needs (``[[0] * 10**5] * 10**5``,
``f'{1:>99999999999}'``, an expression nested thousands deep) and so hang the converter or
exhaust memory. Every bound is checked before the work it guards, or cheaply after it (the size
of a value built by aliases is measured once, each shared part counted where it is written out):
a refusal is one line naming the file, the line and the bound.
"""

from __future__ import annotations

import ast
import re
from typing import Any

MAX_SIZE = 100_000  # characters of a string; items of one value, nested items counted where written out
MAX_TOTAL = 200_000  # items all of a file's values hold together; items a file's evaluation copies
MAX_INT_BITS = 14_000  # an int's bits: about 4,200 digits, within what Python writes out (4,300)
MAX_DEPTH = 100  # nesting of an expression in the file, and of a value
MAX_FILE_BYTES = 1_000_000  # a config file's size (MMEngine's own are a few kilobytes)

_NUMBER = re.compile(r"\d+")


def deep_line(tree: ast.AST) -> int | None:
    """The line of the first node nested more than :data:`MAX_DEPTH` deep in ``tree``; ``None`` when
    none is (walked without recursion: the tree may be thousands deep)."""
    stack: list[tuple[ast.AST, int, int]] = [(tree, 0, 0)]
    while stack:
        node, depth, line = stack.pop()
        line = getattr(node, "lineno", line)
        if depth > MAX_DEPTH:
            return line
        stack.extend((child, depth + 1, line) for child in ast.iter_child_nodes(node))
    return None


def format_too_wide(spec: str) -> bool:
    """Whether an f-string format spec asks for a width or precision over :data:`MAX_SIZE`
    (``>99999999999``, ``.999999999f``): Python would build that string before anything could
    refuse it. A fill character is a single character, so every run of digits is a number."""
    return any(len(run) > 6 or int(run) > MAX_SIZE for run in _NUMBER.findall(spec))


def int_too_big(value: Any) -> bool:
    return type(value) is int and value.bit_length() > MAX_INT_BITS


def power_too_big(left: Any, right: Any) -> bool:
    """Whether ``left ** right`` of two ints would have more than :data:`MAX_INT_BITS` bits
    (estimated before computing it: ``right * log2(left)``)."""
    if type(left) is not int or type(right) is not int or right <= 0 or abs(left) <= 1:
        return False
    return right * (abs(left).bit_length() - 1) > MAX_INT_BITS


def product_too_big(left: Any, right: Any) -> bool:
    """Whether ``left * right`` of two ints would have more than :data:`MAX_INT_BITS` bits."""
    return (
        type(left) is int and type(right) is int and left.bit_length() + right.bit_length() > MAX_INT_BITS + 1
    )


def binary_bound(op: type[ast.operator], left: Any, right: Any) -> str:
    """The bound ``left op right`` would go over, checked before computing it; ``""`` for none."""
    bits, items = f"{MAX_INT_BITS:,} bits", f"{MAX_SIZE:,} items and characters"
    if op is ast.Pow and power_too_big(left, right):
        return bits
    if op is ast.Mult and product_too_big(left, right):
        return bits
    if op is ast.Add and isinstance(left, (str, list)) and len(left) + len(right) > MAX_SIZE:
        return items
    return ""


class Refused(Exception):
    """A value over a bound: ``args[0]`` says which."""


class Sizes:
    """Measures values as they would be written out (a list holding one list twice holds its
    items twice), each shared part visited once; a value that contains itself is refused.

    One instance measures the values of one file: what it measured is remembered by identity and
    kept alive, so nothing may change the measured values in place while it is in use.
    """

    def __init__(self) -> None:
        self._seen: dict[int, tuple[int, int] | str] = {}  # id -> (size, height), or why it is refused
        self._kept: list[Any] = []  # what _seen names, kept alive so that no id is reused

    def measure(self, value: Any) -> int:
        """The size of ``value`` (:data:`MAX_SIZE` at most).

        Raises:
            Refused: bigger than :data:`MAX_SIZE`, nested more than :data:`MAX_DEPTH` deep, or
                containing itself.
        """
        size, height = self._measure(value, 0, set())
        if height > MAX_DEPTH:
            raise Refused(f"a value nested more than {MAX_DEPTH} deep (the bound)")
        return size

    def _measure(self, value: Any, depth: int, path: set[int]) -> tuple[int, int]:
        if isinstance(value, str):
            return max(len(value), 1), 0
        if not isinstance(value, (list, dict)):
            return 1, 0
        key = id(value)
        known = self._seen.get(key)
        if isinstance(known, str):
            raise Refused(known)
        if known is not None:
            return known
        if key in path:
            self._seen[key] = "a value that contains itself"
            raise Refused(self._seen[key])
        if depth > MAX_DEPTH:  # only the root is known too deep: nothing is remembered
            return 1, MAX_DEPTH + 1
        path.add(key)
        self._kept.append(value)
        items = list(value.values()) if isinstance(value, dict) else value
        # a scalar is one item, a string its characters (keys too): counted without a call per item
        size, height = len(items), 0
        if isinstance(value, dict):
            size += sum(map(len, value))
        try:
            for item in [item for item in items if isinstance(item, (str, list, dict))]:
                item_size, item_height = self._measure(item, depth + 1, path)
                size, height = size + item_size - 1, max(height, item_height + 1)
                if height > MAX_DEPTH:
                    return size, height
                if size > MAX_SIZE:
                    raise Refused(f"a value bigger than {MAX_SIZE:,} items and characters (the bound)")
        except Refused as error:
            self._seen[key] = str(error)  # what holds a refused value is refused alike
            raise
        finally:
            path.discard(key)
        if size > MAX_SIZE:
            self._seen[key] = f"a value bigger than {MAX_SIZE:,} items and characters (the bound)"
            raise Refused(self._seen[key])
        size = max(size, 1)  # an empty table or array is still written out
        self._seen[key] = (size, height)
        return size, height
