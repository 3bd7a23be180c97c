"""The safe evaluator: Python's own values for what it computes, a reason for what it refuses."""

from __future__ import annotations

import ast

import pytest

from customrun_core.convert.evaluate import Evaluator, Untranslatable
from customrun_core.convert.statements import StatementRunner


def run(source: str, base: dict | None = None) -> dict:
    evaluator = Evaluator("cfg.py", base)
    return StatementRunner(evaluator).run(ast.parse(source)).values


def value(expression: str, base: dict | None = None):
    return run(f"x = {expression}", base)["x"]


@pytest.mark.parametrize(
    "expression",
    [
        "1.5e-4 * 4096 / 256",
        "0.1 * 8 / 3",
        "2 ** 10",
        "2 ** -2",
        "7 // 2 - 7 % 3",
        "-(3 - 10) * +2.5",
        "1e-6",
        "0.1 + 0.2",
        "True + 1",
        "~5 | 2 ^ 1 & 3",
        "'a' + 'b' * 2",
        "[1, 2] + [3] * 2",
        "f'{0.1:.3f}-{42}-{\"x\"!s}'",
        "{'a': 1} | {'b': 2}",
    ],
)
def test_arithmetic_gives_pythons_exact_value(expression: str) -> None:
    # Python's eval of the same text is the reference: the converter must not round or reorder
    expected = eval(expression)  # the reference: literals written in this test
    got = value(expression)
    assert got == expected and type(got) is type(expected)


def test_tuples_become_lists_and_nesting_is_kept() -> None:
    assert value("dict(betas=(0.9, 0.95), keys=[('a', 1)])") == {"betas": [0.9, 0.95], "keys": [["a", 1]]}


def test_dict_calls_with_keywords_and_double_star() -> None:
    values = run(
        "common = dict(by_epoch=True, begin=0)\n"
        "a = dict(common, end=40)\n"
        "b = dict(type='LinearLR', **common, end=5)\n"
        "c = {**common, 'end': 7}\n"
        "d, e = 1, 2\n"
    )
    assert values["a"] == {"by_epoch": True, "begin": 0, "end": 40}
    assert values["b"] == {"type": "LinearLR", "by_epoch": True, "begin": 0, "end": 5}
    assert values["c"] == {"by_epoch": True, "begin": 0, "end": 7}
    assert (values["d"], values["e"]) == (1, 2)


def test_base_values_are_read_by_attribute_and_by_placeholder() -> None:
    base = {"model": {"backbone": {"depth": 50}}, "lr": 0.1}
    values = run("a = {{_base_.model.backbone}}\nb = _base_.lr * 2\nc = _base_.nope", base)
    assert values["a"] == {"depth": 50}
    assert values["b"] == 0.2
    assert values["c"] == Untranslatable("_base_ has no key nope", "cfg.py", 3)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("lambda x: x", "a lambda is not a literal"),
        ("[i for i in range(3)]", "a list comprehension is not a literal"),
        ("{k: 1 for k in 'ab'}", "a dict comprehension is not a literal"),
        ("torch.nn.ReLU", "attribute access torch.nn.ReLU"),
        ("range(3)", "a call of range() convert does not know"),
        ("dict(a=1).copy()", "a call of dict(a=1).copy() convert does not know"),
        ("undefined + 1", "the name 'undefined' is not bound earlier in the file"),
        ("1 / 0", "1 / 0 fails: division by zero"),
        ("10 ** 10 ** 10", "the result of 10 ** 10 ** 10 is too big"),
        ("[0] * 10 ** 9", "the result of [0] * 10 ** 9 is too big"),
        ("'a' - 'b'", "the operation 'a' - 'b'"),
        ("{1, 2}", "a set (TOML has none) is not a literal"),
        ("1 if True else 2", "a conditional expression is not a literal"),
        ("b'raw'", "the constant b'raw' has no TOML form"),
        ("{1: 'a'}", "a table key must be a string, got 1"),
    ],
)
def test_what_is_not_literal_is_untranslatable_with_a_reason(expression: str, reason: str) -> None:
    assert value(expression) == Untranslatable(reason, "cfg.py", 1)


def test_untranslatable_parts_stay_in_place_inside_tables() -> None:
    got = value("dict(type='NewHook', fn=lambda: 0, a=[1, print], b=2)")
    assert got["type"] == "NewHook" and got["b"] == 2
    assert isinstance(got["fn"], Untranslatable)
    assert got["a"][0] == 1 and got["a"][1].reason == "the name 'print' is not bound earlier in the file"
