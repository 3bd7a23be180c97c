"""``customrun convert`` on hostile files (issue 20, item 11): every size and depth is bounded.

Each file asks for something no config needs (a string of 10**11 characters, a list of 10**12
items, an expression thousands deep). It must end in one line naming the file, the line, what
was refused and the bound, with exit status 2, soon: each runs in a subprocess with a memory
limit and a timeout, so that a regression fails the test instead of hanging or exhausting the
machine. The bounds are the documented ones (docs/migration.md): 100,000 items and characters per
value, 200,000 items per file, 14,000 bits per int, nesting 100 deep, files of 1,000,000 bytes.
"""

from __future__ import annotations

import ast
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from customrun_core.convert import convert_file
from customrun_core.convert.evaluate import Evaluator
from customrun_core.convert.statements import StatementRunner

MEMORY_LIMIT = 4 * 2**30  # bytes of address space: a memory bomb fails fast instead of swapping


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def convert(tmp_path: Path, source: str | None, name: str = "cfg.py") -> subprocess.CompletedProcess[str]:
    """``customrun convert NAME`` in ``tmp_path``, after writing ``source`` there (unless ``None``)."""
    if source is not None:
        (tmp_path / name).write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CUSTOMRUN_TRACEBACK"}
    return subprocess.run(
        [sys.executable, "-m", "customrun_core", "convert", name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # never a timed assertion: a hang fails here, a busy machine does not
        preexec_fn=_limit_memory,
        check=False,
    )


def deep_doubling(lines: int) -> str:
    return "a = [0]\n" + "a = [a, a]\n" * lines


def wired_by_assignment(levels: int) -> str:
    """Small lists, then each made to hold the next smaller one twice: no expression is big."""
    text = "".join(f"c{k} = [0]\n" for k in range(levels + 1))
    return text + "".join(f"c{k}[0] = [c{k - 1}, c{k - 1}]\n" for k in range(levels, 0, -1))


HOSTILE = {
    "format width": ("x = f'{1:>99999999999}'\n", "1: refused the f-string format '>99999999999'", "100,000"),
    "format precision": ("x = f'{1.5:.999999999f}'\n", "1: refused the f-string format", "100,000"),
    "f-string of long parts": (
        "s = 'a' * 10**5\nx = f'" + "{s}" * 3 + "'\n",
        "2: refused an f-string too long",
        "100,000",
    ),
    "nested list product": ("x = [[0]*10**6]*10**6\n", "1: refused the result of [0] * 10 ** 6", "100,000"),
    "list of lists product": (
        "x = [[0]*10**5]*10**5\n",
        "1: refused the result of [[0] * 10 ** 5] * 10 ** 5 is too big",
        "100,000",
    ),
    "string product": ("x = 'a'*10**12\n", "1: refused the result of 'a' * 10 ** 12 is too big", "100,000"),
    "list product": ("x = [0]*10**9\n", "1: refused the result of [0] * 10 ** 9 is too big", "100,000"),
    "doubled string": (
        "x = 'a' * 10**5\nx = x + x\n",
        "2: refused the result of x + x is too big",
        "100,000",
    ),
    "power": ("x = 2 ** 99999\n", "1: refused the result of 2 ** 99999 is too big", "14,000 bits"),
    "squared int": (
        "x = 2 ** 10000\nx = x * x\n",
        "2: refused the result of x * x is too big",
        "14,000 bits",
    ),
    "hex literal": ("x = 0x" + "f" * 4000 + "\n", "1: refused an int literal too big", "14,000 bits"),
    "aliases doubling": (deep_doubling(60), "61: a: refused a value bigger than", "100,000"),
    "assignments wiring": (wired_by_assignment(60), ": c17: refused a value bigger than", "100,000"),
    "shared list in many keys": (
        "x = [0] * 10**5\n" + "".join(f"y{k} = x\n" for k in range(5)),
        "3: y1: refused the file's values, with this one, hold too many items",
        "200,000 items",
    ),
    "list holding itself": ("a = [0]\na[0] = a\n", "1: a: refused a value that contains itself", ""),
    "list extended by itself": ("a = [0]\na += [a]\n", "2: a: refused a value that contains itself", ""),
    "value nested by aliases": (
        "a = [0]\n" + "a = [a]\n" * 150,
        "151: a: refused a value nested more",
        "100",
    ),
    "unary minus chain": (
        "x = " + "-" * 500 + "1\n",
        "1: nested too deeply to convert: refused an expression more than 100 levels",
        "100",
    ),
    "unary minus chain beyond the parser": (
        "x = " + "-" * 5000 + "1\n",
        "cfg.py: nested too deeply to convert: Python's parser refused it",
        "100 levels",
    ),
    "file too big": ("x = 1\n" * 200_000, "refused a file bigger than 1,000,000 bytes", "1,000,000"),
}


@pytest.mark.parametrize("case", list(HOSTILE), ids=list(HOSTILE))
def test_hostile_input_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    source, expected, bound = HOSTILE[case]
    result = convert(tmp_path, source)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: cfg.py"), result.stderr[-2000:]
    assert expected in lines[0] and bound in lines[0]


def test_many_copies_of_a_base_value_are_refused(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text("x = [0] * 10**5\n", encoding="utf-8")
    copies = "".join(f"y{k} = _base_.x\n" for k in range(1000))
    result = convert(tmp_path, "_base_ = './base.py'\n" + copies)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: cfg.py:4: refused evaluating the file copies too many items (the bound is 200,000 items)"
    )


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "cfg.py"
    if kind == "fifo":
        os.mkfifo(path)  # reading it would wait forever
    else:
        path.symlink_to("/dev/zero")  # reading it would never end
    result = convert(tmp_path, None)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: cfg.py: expected a Python config file, got something that is not a regular file"
    )


def test_a_complex_number_is_left_out_not_a_traceback(tmp_path: Path) -> None:
    (
        tmp_path / "cfg.py"
    ).write_text(  # a whole model table: train's pre-flight would refuse one without backbone
        "model = dict(type='ClassifierModel', backbone=dict(type='MLP', in_features=4, num_classes=2),"
        " depth=(-8) ** 0.5)\n"
    )
    conversion = convert_file(tmp_path / "cfg.py")
    assert "depth" not in conversion.data["model"]
    assert [r.message for r in conversion.reports] == [
        "the complex number (-8) ** 0.5 has no TOML form, left out"
    ]


def values(source: str) -> dict:
    evaluator = Evaluator("cfg.py")
    result = StatementRunner(evaluator).run(ast.parse(source)).values
    assert evaluator.refused == []
    return result


@pytest.mark.parametrize(
    "expression",
    [
        "[0] * 100_000",
        "'ab' * 50_000",
        "f'{1:>99999}'",
        "f'{1.5:.500f}'",
        "2 ** 13_000",
        "[[1, 2]] * 33_333",
        "-" * 90 + "1",
        "dict(x=dict(y=dict(z=[1, [2, 3]])))",
    ],
)
def test_values_at_the_bounds_are_computed_as_python_computes_them(expression: str) -> None:
    expected = eval(expression)  # the reference: Python itself, on literals written in this test
    assert values(f"x = {expression}\n")["x"] == expected


def test_values_shared_by_aliases_convert_like_mmengine_configs(tmp_path: Path) -> None:
    (tmp_path / "cfg.py").write_text(
        "norm = dict(type='BN', requires_grad=True)\n"
        "model = dict(type='my_models:Net', a=norm, b=[norm] * 4, c=dict(d=norm))\n",  # kept unchecked
        encoding="utf-8",
    )
    model = convert_file(tmp_path / "cfg.py").data["model"]
    norm = {"type": "BN", "requires_grad": True}
    assert model["a"] == norm and model["b"] == [norm] * 4 and model["c"] == {"d": norm}


def test_a_diamond_of_bases_reads_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from customrun_core.convert import inherit

    (tmp_path / "d0.py").write_text("lr = 0.1\n")
    for level in range(1, 11):  # each level names the one below twice: 2**10 reads without a cache
        for side in "ab":
            (tmp_path / f"d{level}{side}.py").write_text(f"_base_ = ['d{level - 1}.py']\n")
        (tmp_path / f"d{level}.py").write_text(f"_base_ = ['d{level}a.py', 'd{level}b.py']\n")
    reads: list[str] = []
    parse = inherit.parse_file
    monkeypatch.setattr(inherit, "parse_file", lambda file: reads.append(file) or parse(file))
    with pytest.raises(Exception, match="lr is set by two _base_ files"):  # MMEngine's rule, kept
        inherit.read_config(tmp_path / "d10.py")
    (tmp_path / "d0.py").write_text("")
    reads.clear()
    assert inherit.read_config(tmp_path / "d10.py").values == {}
    assert len(reads) == len(set(reads)) == 31


def test_toml_of_a_deep_long_value_writes_each_scalar_a_bounded_number_of_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from customrun_core.convert import toml_writer

    value: dict = {"x": [1.5] * 2000}
    for _ in range(60):
        value = {"k": value}
    calls: list[object] = []
    scalar = toml_writer._scalar
    monkeypatch.setattr(toml_writer, "_scalar", lambda v: calls.append(v) or scalar(v))
    text = toml_writer.dumps({"model": value})
    assert text.count("1.5") == 2000
    assert len(calls) < 2000 + 60 * 100  # once each, plus a line's width per level; was 2000 * 60
