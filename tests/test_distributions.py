"""Every distribution here is ready to publish (issue 21, item 14): the static half of `tox -e release`.

The pyproject.toml files are read as they are in the checkout (tomllib), with no build; tools/release_check.py,
which `tox -e release` runs, builds and installs them too.
"""

from __future__ import annotations

import subprocess
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from release_check import (
    ROOT,
    archive_problems,
    core_range_problems,
    distributions,
    load,
    metadata_problems,
    undeclared_imports,
    visible_files,
)

PUBLISHED = distributions()
CORE, PLUGINS = PUBLISHED[0], PUBLISHED[1:]
# The examples are not published, but a copy of one must still install beside this core.
EVERY_PLUGIN = distributions(examples=True)[1:]


def test_the_published_distributions_are_the_core_and_plugins_folder() -> None:
    names = [dist.name for dist in PUBLISHED]
    folders = sorted(
        path.name for path in (ROOT / "plugins").iterdir() if (path / "pyproject.toml").is_file()
    )
    assert names == ["customrun-core", *folders]
    assert "customrun-lars" in names  # the README's `pip install customrun-lars`


@pytest.mark.parametrize("plugin", EVERY_PLUGIN, ids=lambda dist: dist.name)
def test_each_plugin_requires_a_core_range_that_includes_the_core(plugin) -> None:
    assert core_range_problems(CORE, [plugin]) == []


def _mutated_copy(tmp_path: Path, plugin_folder: Path, old: str, new: str) -> Path:
    """A copy of a plugin's pyproject.toml with one requirement changed, as a folder of its own."""
    text = (plugin_folder / "pyproject.toml").read_text()
    assert old in text
    (tmp_path / "pyproject.toml").write_text(text.replace(old, new))
    return tmp_path


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        (
            '"customrun-core>=0.2,<0.3"',
            "requires customrun-core<0.3,>=0.2, which excludes the core's version 0.1.0",
        ),
        ('"customrun-core<0.1"', "requires customrun-core<0.1, which excludes the core's version 0.1.0"),
        (
            '"customrun_core==0.0.9"',
            "requires customrun-core==0.0.9, which excludes the core's version 0.1.0",
        ),
        ('"packaging>=23"', "does not require customrun-core"),
    ],
)
def test_a_range_that_excludes_the_core_is_reported(tmp_path: Path, requirement: str, expected: str) -> None:
    assert CORE.version == Version("0.1.0"), "the expected lines name the core's version: update them with it"
    lars = ROOT / "plugins" / "customrun-lars"
    folder = _mutated_copy(tmp_path, lars, '"customrun-core>=0.1,<0.2"', requirement)
    assert core_range_problems(CORE, [load(folder)]) == [
        f"{folder}/pyproject.toml: customrun-lars {expected}"
    ]


@pytest.mark.parametrize("dist", PUBLISHED, ids=lambda dist: dist.name)
def test_metadata_has_what_a_pypi_page_needs(dist) -> None:
    assert metadata_problems(dist) == []
    with (dist.folder / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    assert project["readme"] == "README.md"
    assert project["requires-python"] == CORE.project["requires-python"]
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]


def test_missing_metadata_is_reported(tmp_path: Path) -> None:
    folder = _mutated_copy(tmp_path, ROOT / "plugins" / "customrun-amp", 'license = "Apache-2.0"\n', "")
    where = f"{folder}/pyproject.toml"
    assert metadata_problems(load(folder)) == [
        f"{where}: [project] has no license",
        f"{where}: no file README.md beside it",
        f"{where}: no file LICENSE beside it",
    ]
    assert metadata_problems(load(folder), known_classifiers={"Typing :: Typed"})[-1] == (
        f"{where}: unknown classifier 'Topic :: Scientific/Engineering :: Artificial Intelligence'"
    )


@pytest.mark.parametrize("dist", PUBLISHED, ids=lambda dist: dist.name)
def test_build_requires_a_setuptools_that_reads_an_spdx_license(dist) -> None:
    # `license = "Apache-2.0"` (PEP 639) is an error for setuptools before 77.
    with (dist.folder / "pyproject.toml").open("rb") as file:
        requires = [Requirement(text) for text in tomllib.load(file)["build-system"]["requires"]]
    (setuptools,) = [req for req in requires if req.name == "setuptools"]
    assert not setuptools.specifier.contains("76.9")
    assert setuptools.specifier.contains("77.0")


@pytest.mark.parametrize("plugin", EVERY_PLUGIN, ids=lambda dist: dist.name)
def test_each_plugin_declares_what_it_imports(plugin) -> None:
    assert undeclared_imports(plugin) == []


def test_an_undeclared_import_is_reported(tmp_path: Path) -> None:
    folder = _mutated_copy(tmp_path, ROOT / "plugins" / "customrun-mlflow", '"mlflow-skinny>=3.0,<4",', "")
    (folder / "customrun_mlflow").mkdir()
    (folder / "customrun_mlflow" / "hook.py").write_text("import os\nfrom mlflow.entities import Metric\n")
    assert undeclared_imports(load(folder)) == [
        f"{folder}: imports mlflow, which no declared dependency provides"
    ]


def test_no_build_output_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    junk = [
        name
        for name in tracked
        if "/build/" in f"/{name}" or ".egg-info/" in name or name.startswith("dist/")
    ]
    assert junk == []


def test_the_archive_check_names_junk_and_missing_files(tmp_path: Path) -> None:
    # Hand-made archives of customrun-lars: a stale build/ copy and a test in the sdist, no LICENSE, a module
    # missing from both; the check reads which files the package has from git, as in `tox -e release`.
    (lars,) = [dist for dist in PLUGINS if dist.name == "customrun-lars"]
    sdist, wheel = (
        tmp_path / "customrun_lars-0.1.0.tar.gz",
        tmp_path / "customrun_lars-0.1.0-py3-none-any.whl",
    )
    in_sdist = ["PKG-INFO", "pyproject.toml", "README.md", "MANIFEST.in", "customrun_lars.egg-info/PKG-INFO"]
    in_sdist += [
        "customrun_lars/__init__.py",
        "customrun_lars/py.typed",
        "build/lib/customrun_lars/__init__.py",
    ]
    in_sdist += ["tests/test_plugin.py"]
    with tarfile.open(sdist, "w:gz") as tar:
        for name in in_sdist:
            (tmp_path / "empty").write_text("")
            tar.add(tmp_path / "empty", arcname=f"customrun_lars-0.1.0/{name}")
    with zipfile.ZipFile(wheel, "w") as zipped:
        for name in ["customrun_lars/__init__.py", "customrun_lars/py.typed", "tests/test_plugin.py"]:
            zipped.writestr(name, "")
    # optimizer.py, and any module added since: the check reads the package's files from git.
    missing = sorted(
        name
        for name in visible_files(lars.folder)
        if name.startswith("customrun_lars/")
        and name not in ("customrun_lars/__init__.py", "customrun_lars/py.typed")
    )
    assert "customrun_lars/optimizer.py" in missing
    assert archive_problems(lars, sdist, wheel) == [
        f"{sdist.name}: holds build/lib/customrun_lars/__init__.py, which building the wheel does not need",
        f"{sdist.name}: holds tests/test_plugin.py, which building the wheel does not need",
        *(f"{sdist.name}: lacks {name}" for name in missing),
        f"{sdist.name}: lacks LICENSE",
        *(f"{wheel.name}: lacks {name}" for name in missing),
        f"{wheel.name}: lacks customrun_lars-0.1.0.dist-info/licenses/LICENSE",
        f"{wheel.name}: holds tests/test_plugin.py, outside its package",
    ]
