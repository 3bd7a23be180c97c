"""Following a config file's statements: assignments, in-place changes as Python makes them, and
the statements that are reported instead of run."""

from __future__ import annotations

import ast

from customrun_core.convert.evaluate import Evaluator
from customrun_core.convert.statements import StatementRunner


def run(source: str) -> dict:
    return StatementRunner(Evaluator("cfg.py")).run(ast.parse(source)).values


def test_names_bound_earlier_are_read_and_aliasing_is_pythons() -> None:
    values = run(
        "lr = 0.01\n"
        "optimizer = dict(type='SGD', lr=lr * 2)\n"
        "optim_wrapper = dict(optimizer=optimizer)\n"
        "optimizer['momentum'] = 0.9\n"  # the same dict in Python: optim_wrapper sees it
        "lr = 1.0\n"  # rebinding later changes nothing already computed
        "steps = [1]\n"
        "alias = steps\n"
        "steps += [2]\n"
    )
    assert values["optim_wrapper"] == {"optimizer": {"type": "SGD", "lr": 0.02, "momentum": 0.9}}
    assert values["lr"] == 1.0
    assert values["alias"] == [1, 2]


def test_statements_that_are_not_assignments_are_reported_not_run() -> None:
    evaluator = Evaluator("cfg.py")
    tree = ast.parse(
        "import torch\nfrom mmengine.config import read_base\n"
        "if True:\n    a = 1\nprint('x')\ndef f():\n    pass\nb = f\n"
        "with read_base():\n    from .base import *\n"
    )
    result = StatementRunner(evaluator).run(tree)
    assert list(result.values) == ["b"]  # imports and functions are no config keys
    assert result.values["b"].reason == "a function defined in the file"
    assert [(r.line, r.message) for r in result.reports] == [
        (3, "a top-level if statement is not run; what it binds is left out"),
        (5, "the expression print('x') is not run"),
        (9, "MMEngine's pure-Python style (with read_base()) is not supported: use _base_ = [...]"),
    ]
