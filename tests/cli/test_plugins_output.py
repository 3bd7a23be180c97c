"""``customrun plugins`` through a pipe and in a narrow terminal keeps every name whole, and
``--requirements`` prints lines pip can install from (issue 21, item 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from customrun_core.cli import cli

LONG = "LearningRateDecayOptimizerConstructorForVeryDeepVisionTransformers"


def _listing(env: dict[str, str], tty: bool) -> str:
    """``customrun plugins`` run as a user runs it: stdout a pipe, or a terminal (a pty)."""
    command = [sys.executable, "-m", "customrun_core", "plugins"]
    if not tty:
        return subprocess.run(command, stdout=subprocess.PIPE, env=env, text=True, check=True).stdout
    pty = pytest.importorskip("pty")  # POSIX terminals
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=follower, stderr=subprocess.STDOUT, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=120) == 0
    return b"".join(chunks).decode().replace("\r\n", "\n")


def _words(text: str) -> set[str]:
    return set(text.replace(",", " ").replace(";", " ").split())


@pytest.fixture
def long_names(customrun_distribution: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    customrun_distribution(
        "customrun-long-names",
        version="0.2",
        entry_points={
            "customrun.optim_wrapper_constructors": {LONG: "never_import_me:X"},
            "customrun.hooks": {"ShortHook": "never_import_me:Y"},
        },
        modules={"never_import_me.py": "raise RuntimeError('imported!')\n"},
    )
    rows = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    return [name for row in rows for names in row["provides"].values() for name in names]


@pytest.mark.parametrize("columns", ["40", "80"])
def test_a_piped_listing_has_every_name_whole_on_the_line_of_its_distribution(
    columns: str, long_names: list[str]
) -> None:
    text = _listing({**os.environ, "COLUMNS": columns}, tty=False)
    assert "…" not in text
    by_dist = {line.split()[0]: line for line in text.splitlines()[1:] if line and not line[0].isspace()}
    assert f"{LONG}" in by_dist["customrun-long-names"].split(": ")[-1].split(", ")
    words = _words(text)
    for name in long_names:  # every name any distribution provides, as a word of the output
        assert name in words, name
    assert text.splitlines()[0].split() == ["distribution", "version", "status", "provides"]


def test_a_narrow_terminal_wraps_between_names_and_cuts_none(long_names: list[str]) -> None:
    text = _listing({**os.environ, "COLUMNS": "40", "TERM": "xterm"}, tty=True)
    assert "…" not in text
    words = _words(text)
    for name in long_names:
        assert name in words, name
    too_long = [line for line in text.splitlines() if len(line) > 40]
    assert all(len(line.split()) == 1 for line in too_long), too_long  # a name longer than the terminal


def test_listing_and_requirements_import_no_torch_and_no_plugin(long_names: list[str]) -> None:
    probe = textwrap.dedent(
        """
        import sys
        from customrun_core.cli import cli
        for args in (["plugins"], ["plugins", "--requirements"]):
            try:
                cli(args, prog_name="customrun")
            except SystemExit:
                pass
        print("IMPORTED", sorted(set(m.split(".")[0] for m in sys.modules) & {"torch", "never_import_me"}))
        """
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.rstrip().endswith("IMPORTED []")


def _project(folder: Path, name: str, version: str) -> Path:
    """A real source tree of a distribution that pip can build."""
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""
            [build-system]
            requires = ["setuptools>=64"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{name}"
            version = "{version}"

            [tool.setuptools]
            py-modules = []
            """
        ),
        encoding="utf-8",
    )
    return folder


def _installed_as(root: Path, name: str, version: str, direct_url: dict | None) -> None:
    """What pip leaves for ``name`` installed that way: its PEP 610 ``direct_url.json``."""
    if direct_url is not None:
        dist_info = root / f"{name.replace('-', '_')}-{version}.dist-info"
        (dist_info / "direct_url.json").write_text(json.dumps(direct_url), encoding="utf-8")


def _requirements(customrun_distribution: Callable[..., Path], installs: dict[str, dict | None]) -> list[str]:
    for name, direct_url in installs.items():
        root = customrun_distribution(name, version="0.3", entry_points={"customrun.hooks": {name: "m:H"}})
        _installed_as(root, name, "0.3", direct_url)
    lines = CliRunner().invoke(cli, ["plugins", "--requirements"]).output.splitlines()
    return [line for line in lines if any(name in line for name in installs)]


def test_requirements_give_pip_what_each_kind_of_install_needs(
    customrun_distribution: Callable[..., Path], tmp_path: Path
) -> None:
    from packaging.requirements import Requirement

    editable = _project(tmp_path / "src" / "lion", "customrun-lion", "0.3")
    local = _project(tmp_path / "src" / "local", "customrun-local", "0.3")
    commit = "0123456789abcdef0123456789abcdef01234567"
    lines = _requirements(
        customrun_distribution,
        {
            "customrun-lion": {"url": editable.as_uri(), "dir_info": {"editable": True}},
            "customrun-local": {"url": local.as_uri(), "dir_info": {}},
            "customrun-vcs": {
                "url": "https://example.org/me/customrun-vcs.git",
                "vcs_info": {"vcs": "git", "commit_id": commit, "requested_revision": "main"},
                "subdirectory": "plugin",
            },
            "customrun-indexed": None,
        },
    )
    assert lines == [
        "customrun-indexed==0.3",
        f"-e {editable}  # customrun-lion 0.3 (editable)",
        f"customrun-local @ {local.as_uri()}  # customrun-local 0.3 (local directory)",
        f"customrun-vcs @ git+https://example.org/me/customrun-vcs.git@{commit}#subdirectory=plugin"
        "  # customrun-vcs 0.3 (git checkout)",
    ]
    vcs = Requirement(lines[3].partition("  #")[0])
    assert (vcs.name, vcs.url) == (
        "customrun-vcs",
        f"git+https://example.org/me/customrun-vcs.git@{commit}#subdirectory=plugin",
    )
    assert Requirement(lines[2].partition("  #")[0]).url == local.as_uri()


def test_the_editable_and_local_lines_install_with_pip(
    customrun_distribution: Callable[..., Path], tmp_path: Path
) -> None:
    """The lines, as a requirements file, fed to pip (offline, nothing installed: --dry-run)."""
    # the build backend the throwaway projects name, from this environment (no isolation: offline);
    # from 70.1 it builds wheels and editables without the wheel package
    pytest.importorskip("setuptools", minversion="70.1")
    editable = _project(tmp_path / "src" / "lion", "customrun-lion", "0.3")
    local = _project(tmp_path / "src" / "local", "customrun-local", "0.3")
    lines = _requirements(
        customrun_distribution,
        {
            "customrun-lion": {"url": editable.as_uri(), "dir_info": {"editable": True}},
            "customrun-local": {"url": local.as_uri(), "dir_info": {}},
        },
    )
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # pip sees the real environment
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--dry-run",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
    ]
    subprocess.run(
        [*pip, "--quiet", "--report", str(report), "-r", str(requirements)],
        env=env,
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    got = {(i["metadata"]["name"], i["metadata"]["version"], i["is_direct"]) for i in installs}
    assert got == {("customrun-lion", "0.3", True), ("customrun-local", "0.3", True)}
    editables = {
        i["metadata"]["name"]: i["download_info"].get("dir_info", {}).get("editable") for i in installs
    }
    assert editables == {"customrun-lion": True, "customrun-local": None}
