"""Issue 22, items 2 and 4: ``custom_imports`` as MMEngine writes it (one module as a string), modules
of OpenMMLab packages that are not there, and the user's own modules that are not there."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from customrun_core import registry
from customrun_core.cli import cli
from customrun_core.config import load_config
from customrun_core.convert import convert_file, to_toml

from .test_preflight import preflight

MY_HOOKS = (
    "from customrun_core import Hook, register\n"
    "@register('hooks')\n"
    "class MyHook(Hook):\n"
    "    def __init__(self, a=1):\n"
    "        self.a = a\n"
)
MODEL = (
    'model = { type = "ClassifierModel", backbone = { type = "MLP", in_features = 64, num_classes = 10 } }\n'
)


pytestmark = pytest.mark.usefixtures("customrun_isolated")  # what custom_imports registered is undone


def test_customrun_accepts_one_module_as_a_string(tmp_path: Path) -> None:
    (tmp_path / "string_form_hooks.py").write_text(MY_HOOKS)
    (tmp_path / "cfg.toml").write_text(
        MODEL
        + 'custom_imports = { imports = "string_form_hooks" }\ncustom_hooks = [{ type = "MyHook", a = 2 }]\n'
    )
    assert load_config(tmp_path / "cfg.toml").custom_imports.imports == ["string_form_hooks"]
    preflight(tmp_path / "cfg.toml")
    assert "MyHook" in registry.known_names("hooks")  # imported: the string named the module


def test_convert_reads_a_string_form_module_for_its_registered_types(tmp_path: Path) -> None:
    (tmp_path / "converted_hooks.py").write_text(MY_HOOKS)
    (tmp_path / "cfg.py").write_text(
        "custom_imports = dict(imports='converted_hooks', allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='MyHook', a=2)]\n"
    )
    conversion = convert_file(tmp_path / "cfg.py", module_dirs=[tmp_path])
    assert conversion.reports == []
    assert conversion.data == {
        "custom_imports": {"imports": "converted_hooks", "allow_failed_imports": False},
        "custom_hooks": [{"type": "MyHook", "a": 2}],
    }
    # the TOML convert writes loads, imports my_hooks and passes train's pre-flight
    (tmp_path / "cfg.toml").write_text(MODEL + to_toml(conversion.data, "cfg.py"))
    preflight(tmp_path / "cfg.toml")


def test_openmmlab_package_modules_that_are_not_there_are_reported_and_left_out(tmp_path: Path) -> None:
    (tmp_path / "kept_hooks.py").write_text(MY_HOOKS)
    (tmp_path / "cfg.py").write_text(
        "custom_imports = dict(imports=['mmdet.models', 'kept_hooks', 'mmpretrain.models'])\n"
        "custom_hooks = [dict(type='MyHook')]\n"
    )
    conversion = convert_file(tmp_path / "cfg.py", module_dirs=[tmp_path])
    assert [r.render() for r in conversion.reports] == [
        f"{tmp_path / 'cfg.py'}:1: custom_imports.imports[0]: 'mmdet.models' is a module of mmdet"
        " (MMEngine's side), not found here, left out",
        f"{tmp_path / 'cfg.py'}:1: custom_imports.imports[2]: 'mmpretrain.models' is a module of mmpretrain"
        " (MMEngine's side), not found here, left out",
    ]
    assert conversion.data["custom_imports"] == {"imports": ["kept_hooks"]}
    (tmp_path / "cfg.toml").write_text(MODEL + to_toml(conversion.data, "cfg.py"))
    preflight(tmp_path / "cfg.toml")  # loads: nothing it cannot import


def test_only_openmmlab_modules_leave_no_custom_imports(tmp_path: Path) -> None:
    (tmp_path / "cfg.py").write_text("custom_imports = dict(imports='mmdet.models')\n")
    conversion = convert_file(tmp_path / "cfg.py")
    assert conversion.data == {}
    assert [r.key for r in conversion.reports] == ["custom_imports.imports"]


def test_the_users_own_component_is_kept_when_its_module_is_not_there(tmp_path: Path) -> None:
    (tmp_path / "cfg.py").write_text(
        "a_value = 2\nb_value = 1\n"
        "custom_imports = dict(imports=['mmseg.engine.hooks.new_hook'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='NewHook', a=a_value, b=b_value, priority='ABOVE_NORMAL'),\n"
        "                dict(type='OtherHook', c=[a_value])]\n"
    )
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "cfg.py")])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [  # said once, for both tables
        f"{tmp_path / 'cfg.py'}:3: custom_imports: 'mmseg.engine.hooks.new_hook' not found where convert"
        " runs: the types no other place provides are kept as your own (custom_hooks[0], custom_hooks[1]);"
        " they must be importable when training"
    ]
    assert tomllib.loads(result.stdout) == {  # as written, the names resolved
        "custom_imports": {"imports": ["mmseg.engine.hooks.new_hook"], "allow_failed_imports": False},
        "custom_hooks": [
            {"type": "NewHook", "a": 2, "b": 1, "priority": "ABOVE_NORMAL"},
            {"type": "OtherHook", "c": [2]},
        ],
    }
    strict = CliRunner().invoke(cli, ["convert", str(tmp_path / "cfg.py"), "--strict"])
    assert strict.exit_code == 1
