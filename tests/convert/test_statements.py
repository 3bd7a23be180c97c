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
    assert [
        (r.line, r.key, r.message) for r in result.reports
    ] == [  # issue 22, item 3: with the key it changes
        (
            3,
            "a",
            "may be changed by a top-level if statement, which is not run: the value here is from before it",
        ),
        (5, "", "the expression print('x') is not run"),
        (9, "", "MMEngine's pure-Python style (with read_base()) is not supported: use _base_ = [...]"),
    ]


def test_in_place_changes_real_configs_make_are_run() -> None:
    """Issue 22, item 3; the reference is Python itself running the same literals."""
    source = (
        "custom_keys = {'.absolute_pos_embed': dict(decay_mult=0.0)}\n"
        "custom_keys.update({'backbone.norm': dict(decay_mult=0.0), 'head': dict(lr_mult=10.0)})\n"
        "custom_keys.update(relative_position_bias_table=dict(decay_mult=0.0))\n"
        "optim_wrapper = dict(paramwise_cfg=dict(custom_keys=custom_keys))\n"
        "x = [dict(a=1), dict(b=dict(c=2))]\n"
        "x[1]['b']['c'] = 3\n"
        "x[0]['k'] = [1]\n"
        "x[0]['k'] += [2]\n"
        "lst = [1]\n"
        "lst.append(dict(d=4))\n"
        "lst.extend([5, 6])\n"
        "lst.insert(0, 0)\n"
        "lst += [7]\n"
        "lst[2]['d'] += 1\n"
    )
    expected: dict = {}
    exec(source, {}, expected)  # the test's own literals, as the reference
    values = run(source)
    assert values == expected
    assert values["optim_wrapper"]["paramwise_cfg"]["custom_keys"]["head"] == {"lr_mult": 10.0}


def test_a_statement_not_run_names_every_key_path_it_may_change() -> None:
    evaluator = Evaluator("cfg.py")
    tree = ast.parse(
        "custom_keys = {'a': dict(decay_mult=0.0)}\n"
        "paramwise_cfg = dict(custom_keys=custom_keys)\n"
        "optim_wrapper = dict(paramwise_cfg=paramwise_cfg)\n"
        "for i in range(2):\n"
        "    custom_keys[f'stage{i}'] = dict(decay_mult=0.0)\n"
        "steps = [1]\n"
        "steps.sort()\n"
        "if True:\n"
        "    del optim_wrapper['paramwise_cfg']\n"
    )
    result = StatementRunner(evaluator).run(tree)
    assert [(r.line, r.key) for r in result.reports] == [
        (4, "i"),
        (4, "custom_keys"),  # where the dict it changes is: its own name, and every table holding it
        (4, "paramwise_cfg.custom_keys"),
        (4, "optim_wrapper.paramwise_cfg.custom_keys"),
        (7, "steps"),
        (8, "optim_wrapper.paramwise_cfg"),
    ]
    assert result.values["custom_keys"] == {"a": {"decay_mult": 0.0}}  # the value from before it


def test_strict_fails_on_a_statement_not_run(tmp_path) -> None:
    from click.testing import CliRunner

    from customrun_core.cli import cli

    (tmp_path / "cfg.py").write_text("work_dir = './a'\nif True:\n    work_dir = './b'\n")
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "cfg.py"), "--strict"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{tmp_path / 'cfg.py'}:2: work_dir: may be changed by a top-level if statement, which is not run:"
        " the value here is from before it"
    )
