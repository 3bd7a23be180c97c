"""``--set`` takes key paths in the form errors print them (``param_scheduler[1].milestones``), and
an error caused by a ``--set`` value names ``--set`` (issue 21, item 6)."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from customrun_core.cli import cli

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits.toml"


def resolved(*sets: str) -> dict[str, Any]:
    """The resolved config ``customrun config`` prints for digits.toml with these ``--set``s."""
    args = ["config", str(DIGITS)]
    for text in sets:
        args += ["--set", text]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return tomllib.loads(result.output)


def one_line_error(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return result.output.rstrip("\n")


def test_an_index_replaces_exactly_that_value() -> None:
    before = resolved()
    expected = copy.deepcopy(before)
    expected["param_scheduler"][1]["milestones"] = [4, 6]  # by hand: the one value changed
    assert resolved("param_scheduler[1].milestones=[4, 6]") == expected
    assert before["param_scheduler"][1]["milestones"] == [7, 9]  # as digits.toml says


def test_a_negative_index_counts_from_the_end() -> None:
    assert resolved("param_scheduler[-1].gamma=0.5") == resolved("param_scheduler[1].gamma=0.5")
    assert resolved("param_scheduler[-2].end=20")["param_scheduler"][0]["end"] == 20


def test_an_index_replaces_a_whole_element_or_an_element_of_a_value_array() -> None:
    data = resolved('param_scheduler[1]={type = "StepLR", step_size = 3}')
    assert data["param_scheduler"][1] == {"type": "StepLR", "step_size": 3}
    assert data["param_scheduler"][0]["type"] == "LinearLR"
    assert resolved("model.backbone.hidden_features[0]=64")["model"]["backbone"]["hidden_features"] == [64]


def test_the_older_dotted_index_still_works() -> None:
    assert resolved("param_scheduler.1.milestones=[4, 6]") == resolved("param_scheduler[1].milestones=[4, 6]")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "param_scheduler[2].gamma=0.5",
            "--set: param_scheduler[2]: expected an index 0..1 (or -2..-1 from the end): the array has 2 elements,"
            " got 2",
        ),
        (
            "param_scheduler[-3].gamma=0.5",
            "--set: param_scheduler[-3]: expected an index 0..1 (or -2..-1 from the end): the array has 2"
            " elements, got -3",
        ),
        ("model[0].type=X", "--set: model: expected an array to index with [0], got table"),
        (
            "param_scheduler[x].gamma=1",
            "--set: expected KEY.PATH=VALUE, keys joined by dots and array elements",
        ),
    ],
)
def test_a_wrong_index_is_one_line(text: str, line: str) -> None:
    assert one_line_error("config", str(DIGITS), "--set", text).startswith(f"error: {line}")


def test_an_error_caused_by_a_set_value_names_set(tmp_path: Path) -> None:
    work = tmp_path / "w"
    line = one_line_error(
        "train", str(DIGITS), "--work-dir", str(work), "--set", 'param_scheduler[1].milestones="x"'
    )
    assert (
        line == "error: --set: param_scheduler[1].milestones: expected an array of integers, got string 'x'"
    )
    line = one_line_error("train", str(DIGITS), "--work-dir", str(work), "--set", "train_cfg.max_epoch=3")
    assert line.startswith(
        "error: --set: train_cfg.max_epoch: EpochBasedTrainLoop has no argument 'max_epoch'"
    )
    assert not work.exists()  # refused before anything was built or written


def test_an_error_in_the_file_still_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DIGITS.read_text().replace("milestones = [7, 9]", 'milestones = "x"'))
    line = one_line_error("config", str(bad), "--check", "--set", "param_scheduler[0].end=30")
    assert (
        line == f"error: {bad}: param_scheduler[1].milestones: expected an array of integers, got string 'x'"
    )
