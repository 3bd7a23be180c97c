"""Which code a config can make run (issue 20, items 2, 4 and 5): an import path into the standard
library is refused before its module is imported; ``python -m customrun_core`` (torchrun's way) finds
installed modules before the working directory's; ``sys.exit()`` while importing a module or inside a
run never makes a failed command exit 0; an optim wrapper constructor must be one."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from customrun_core.testing import tiny_config

ZEN = "Beautiful is better than ugly"  # what importing the standard library's `this` prints


def _write(folder: Path, **changes: Any) -> Path:
    config = folder / "cfg.toml"
    config.write_text(tomli_w.dumps(tiny_config(work_dir=str(folder / "wd"), **changes)), encoding="utf-8")
    return config


@pytest.mark.parametrize(
    ("key", "table"),
    [
        ("model", {"type": "this:Net"}),
        ("train_dataloader", None),  # the dataset, by dotted path
    ],
)
def test_an_import_path_into_the_standard_library_is_refused_before_its_module_runs(
    tmp_path: Path, customrun_cli: Any, key: str, table: Any
) -> None:
    config = _write(tmp_path)
    changes = {"model": {"type": "this:Net"}} if key == "model" else {}
    cfg = tiny_config(work_dir=str(tmp_path / "wd"), **changes)
    if key == "train_dataloader":
        cfg["train_dataloader"]["dataset"] = {"type": "this.Blobs"}
    config.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    result = customrun_cli("train", config, in_subprocess=True)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr_lines) == 1 and "standard library module 'this'" in result.stderr_lines[0]
    assert ZEN not in result.stdout + result.stderr  # `this` was never imported


@pytest.mark.slow
def test_python_m_takes_installed_modules_before_the_working_directorys(
    tmp_path: Path, customrun_cli: Any
) -> None:
    marker = tmp_path / "shadowed"
    for name in ("json", "typing", "torch"):  # each a module customrun imports
        (tmp_path / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write('{name} ')\n")
    (tmp_path / "crt_local_model.py").write_text(
        textwrap.dedent("""
        from customrun_core.models.classifier import ClassifierModel

        class LocalClassifier(ClassifierModel):
            pass
        """)
    )
    cfg = tiny_config(work_dir=str(tmp_path / "wd"))
    cfg["model"]["type"] = "crt_local_model:LocalClassifier"  # a local module is still found, after
    (tmp_path / "cfg.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    result = customrun_cli("train", tmp_path / "cfg.toml", in_subprocess=True)  # python -m customrun_core
    assert result.exit_code == 0, result.stderr
    assert not marker.exists(), marker.read_text()
    assert (tmp_path / "wd" / "epoch_1.pt").is_file()


@pytest.mark.parametrize("where", ["custom_imports", "import path"])
@pytest.mark.parametrize("code", ["0", "None", "'bye'"])
def test_sys_exit_while_importing_a_module_is_a_failed_import(
    tmp_path: Path, customrun_cli: Any, where: str, code: str
) -> None:
    (tmp_path / "crt_quits.py").write_text(f"import sys\nsys.exit({code})\n")
    cfg = tiny_config(work_dir=str(tmp_path / "wd"))
    if where == "custom_imports":
        cfg["custom_imports"] = {"imports": ["crt_quits"]}
    else:
        cfg["model"]["type"] = "crt_quits:Net"
    (tmp_path / "cfg.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    result = customrun_cli("train", tmp_path / "cfg.toml", in_subprocess=True)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr_lines) == 1, result.stderr_lines
    assert "crt_quits" in result.stderr_lines[0] and "SystemExit" in result.stderr_lines[0]
    assert not (tmp_path / "wd" / "epoch_1.pt").exists()


def test_a_plugin_that_exits_while_importing_is_reported_like_any_broken_plugin(
    tmp_path: Path, customrun_cli: Any, customrun_distribution: Any
) -> None:
    customrun_distribution(
        "crt-quitter",
        entry_points={"customrun.plugins": {"quitter": "crt_quitter"}},
        modules={"crt_quitter.py": "import sys\nsys.exit(0)\n"},
    )
    result = customrun_cli("train", _write(tmp_path), in_subprocess=True)
    assert result.exit_code == 2, result.stderr
    assert "crt-quitter" in result.stderr and "SystemExit" in result.stderr
    assert not (tmp_path / "wd" / "epoch_1.pt").exists()


def test_a_hook_calling_sys_exit_0_fails_the_run(tmp_path: Path, customrun_cli: Any) -> None:
    (tmp_path / "crt_exit_hook.py").write_text(
        textwrap.dedent("""
        import sys
        from customrun_core import Hook, register

        @register("hooks")
        class QuitAtThree(Hook):
            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                if runner.iter == 3:
                    sys.exit(0)
        """)
    )
    config = _write(
        tmp_path, custom_imports={"imports": ["crt_exit_hook"]}, custom_hooks=[{"type": "QuitAtThree"}]
    )
    result = customrun_cli("train", config, in_subprocess=True)
    assert result.exit_code == 1, result.stderr
    assert result.stderr_lines[-1].startswith("error: code inside the run") and "sys.exit(0)" in result.stderr


CONSTRUCTORS = """
from customrun_core.optim.constructor import DefaultOptimWrapperConstructor


class Callable:
    def __init__(self, **kwargs) -> None:
        pass

    def __call__(self, model):
        return None


class Protocol:
    def __init__(self, optim_wrapper_cfg, paramwise_cfg=None) -> None:
        self.inner = DefaultOptimWrapperConstructor(optim_wrapper_cfg, paramwise_cfg)

    def __call__(self, model):
        return self.inner(model)


class NotCallable:
    def __init__(self, optim_wrapper_cfg, paramwise_cfg=None) -> None:
        pass
"""


@pytest.mark.parametrize(
    ("constructor", "exit_code", "says"),
    [
        ("unittest.mock:MagicMock", 2, "standard library module 'unittest'"),
        ("crt_constructors:Callable", 2, "not a subclass of customrun_core.optim.constructor"),
        ("crt_constructors:NotCallable", 2, "not a subclass of customrun_core.optim.constructor"),
        ("crt_constructors:Protocol", 0, ""),
    ],
)
def test_an_optim_wrapper_constructor_must_be_one(
    tmp_path: Path, customrun_cli: Any, constructor: str, exit_code: int, says: str
) -> None:
    (tmp_path / "crt_constructors.py").write_text(CONSTRUCTORS)
    cfg = tiny_config(work_dir=str(tmp_path / "wd"))
    cfg["optim_wrapper"]["constructor"] = constructor
    (tmp_path / "cfg.toml").write_text(tomli_w.dumps(cfg), encoding="utf-8")
    result = customrun_cli("train", tmp_path / "cfg.toml", in_subprocess=True)
    assert result.exit_code == exit_code, result.stderr
    if says:
        assert len(result.stderr_lines) == 1 and says in result.stderr_lines[0], result.stderr_lines
        assert "optim_wrapper.constructor" in result.stderr_lines[0]
        assert not (tmp_path / "wd" / "epoch_1.pt").exists()  # refused before anything trained


def test_a_plain_import_leaves_sys_path_as_the_user_set_it(tmp_path: Path) -> None:
    """Only ``python -m customrun_core`` loses the working directory from sys.path: importing the
    package (a notebook, a script run from its folder) keeps it first."""
    import subprocess

    code = "import sys; import customrun_core; print(repr(sys.path[0]))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "''"
