"""``customrun convert`` through click's CliRunner: output, report lines and exit statuses."""

from __future__ import annotations

import tomllib
from pathlib import Path

from click.testing import CliRunner

from customrun_core.cli import cli

SGD = (
    "optimizer = dict(type='SGD', lr=0.01)\noptim_wrapper = dict(type='OptimWrapper', optimizer=optimizer)\n"
)


def invoke(*args: str):
    return CliRunner().invoke(cli, ["convert", *args])


def test_stdout_without_output_and_exit_zero(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text(SGD)
    result = invoke("old.py")
    assert result.exit_code == 0, result.output
    assert tomllib.loads(result.stdout) == {
        "optim_wrapper": {"type": "OptimWrapper", "optimizer": {"type": "SGD", "lr": 0.01}}
    }
    assert result.stderr == ""


def test_reports_go_to_stderr_one_line_each_and_the_file_is_written(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text(SGD + "visualizer = dict(type='Visualizer')\nlog_level = 'INFO'\n")
    result = invoke("old.py", "-o", "cfg.toml")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "old.py:3: visualizer: no customrun twin, left out",
        "old.py:4: log_level: no customrun twin, left out",
    ]
    text = (tmp_path / "cfg.toml").read_text()
    assert text.startswith("# Converted from old.py by customrun convert.\n")
    assert set(tomllib.loads(text)) == {"optim_wrapper"}


def test_strict_makes_a_report_exit_one_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text(SGD + "log_level = 'INFO'\n")
    result = invoke("old.py", "-o", "cfg.toml", "--strict")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "old.py: 1 key path not translated (--strict): nothing written"
    assert not (tmp_path / "cfg.toml").exists()
    (tmp_path / "clean.py").write_text(SGD)
    assert invoke("clean.py", "--strict").exit_code == 0


def test_bad_files_are_one_line_with_file_and_line_and_exit_two(tmp_path: Path) -> None:
    (tmp_path / "syntax.py").write_text("a = 1\nb = dict(\n")
    (tmp_path / "missing_base.py").write_text("x = 1\n_base_ = ['nope.py']\n")
    (tmp_path / "a.py").write_text("_base_ = 'b.py'\n")
    (tmp_path / "b.py").write_text("_base_ = './a.py'\n")
    cases = {
        "syntax.py": "error: syntax.py:2: invalid Python: '(' was never closed",
        "missing_base.py": "error: missing_base.py:2: _base_: no such _base_ file 'nope.py' (looked for",
        "a.py": "error: b.py:1: _base_: _base_ forms a cycle: a.py -> b.py -> a.py",
        "absent.py": "error: absent.py: no such config file",
        "deep.py": "error: deep.py: nested too deeply to convert",
    }
    (tmp_path / "deep.py").write_text("x = " + " + ".join(["1"] * 20000) + "\n")
    for name, expected in cases.items():
        result = invoke(name)
        assert result.exit_code == 2, name
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(expected), result.stderr
        assert "Traceback" not in result.output


def test_the_output_must_not_overwrite_the_source_or_go_nowhere(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text(SGD)
    assert (
        invoke("old.py", "-o", "old.py").stderr
        == "error: old.py: the output would overwrite the Python config\n"
    )
    result = invoke("old.py", "-o", "no/such/dir/cfg.toml")
    assert (
        result.exit_code == 2
        and result.stderr == "error: no/such/dir/cfg.toml: no such directory 'no/such/dir'\n"
    )


def test_modules_beside_the_output_register_types(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "my_hook.py").write_text(
        "from customrun_core import Hook, register\n\n@register('hooks', 'Renamed')\nclass MyHook(Hook):\n    pass\n"
    )
    (tmp_path / "old.py").write_text(
        "custom_imports = dict(imports=['my_hook'])\ncustom_hooks = [dict(type='Renamed')]\n"
    )
    result = invoke("old.py", "-o", "out/cfg.toml", "--strict")
    assert result.exit_code == 0, result.stderr
    assert tomllib.loads((tmp_path / "out" / "cfg.toml").read_text())["custom_hooks"] == [{"type": "Renamed"}]


def test_convert_is_in_the_help_and_has_its_own() -> None:
    assert "convert" in CliRunner().invoke(cli, ["--help"]).output
    result = invoke("--help")
    assert result.exit_code == 0 and "--strict" in result.output
