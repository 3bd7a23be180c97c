"""RunnerView: what a hook may read from the runner, written once and listed alike everywhere."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import customrun_core
from customrun_core import Runner, hookspecs
from customrun_core.hooks.runner_view import RunnerView
from customrun_core.testing import tiny_config

DOCS = Path(__file__).resolve().parents[2] / "docs"


def protocol_names() -> set[str]:
    """The protocol's members: its properties and methods, not Protocol's own machinery."""
    return {
        name
        for name, value in vars(RunnerView).items()
        if not name.startswith("_") and (isinstance(value, property) or inspect.isfunction(value))
    }


def runner_docstring_names() -> set[str]:
    """The names in double backticks of the Runner docstring's paragraph "What a hook may read ..."."""
    paragraphs = re.split(r"\n\s*\n", inspect.getdoc(Runner) or "")
    [paragraph] = [p for p in paragraphs if p.startswith("What a hook may read")]
    return set(re.findall(r"``(\w+)``", paragraph))


def hook_docs_names() -> set[str]:
    """The names of the table under docs/hooks.md's heading "What a hook may read from the runner"."""
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    section = text.split("## What a hook may read from the runner\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", section, re.M))


def test_the_protocol_the_runner_docstring_and_the_docs_list_the_same_names() -> None:
    names = protocol_names()
    assert len(names) == 22 and "call_hook" in names and "log_sinks" not in names
    assert runner_docstring_names() == names
    assert hook_docs_names() == names


def test_a_runner_has_every_member_of_the_protocol(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = Runner.from_config(tiny_config())
    assert isinstance(runner, RunnerView)
    assert not isinstance(object(), RunnerView)


def test_every_hook_spec_types_its_runner_with_the_protocol() -> None:
    for point in hookspecs.HOOK_POINTS:
        parameters = inspect.signature(getattr(hookspecs, point)).parameters
        assert next(iter(parameters)) == "runner", point
        assert parameters["runner"].annotation == "RunnerView", point


def test_the_protocol_is_public() -> None:
    assert "RunnerView" in customrun_core.__all__
    assert customrun_core.RunnerView is RunnerView
