"""Check that every distribution of this repository is ready to publish (issue 21, item 14).

`tox -e release` runs this script; docs/releasing.md says what it checks. In order:

1. static: each plugin requires ``customrun-core`` with a range that includes the core's version, and each
   distribution's metadata has a readme, a license, classifiers PyPI knows and ``requires-python``;
2. ``python -m build`` makes an sdist and a wheel of each, from a copy of the files git sees (tracked, or new
   and not ignored), so that stale ``build/`` or ``*.egg-info`` folders of the checkout cannot leak in;
3. the sdist holds exactly what building the wheel needs (pyproject.toml, README.md, LICENSE, every package
   file) and nothing else, the wheel every package file; ``twine check --strict`` passes on both;
4. in a fresh venv (torch from ``PIP_CONSTRAINT``), the core's wheel installs and its entry points load; then
   each plugin's wheel installs alone beside it, its entry points load, and it is uninstalled again; last, all
   plugins together, with ``customrun plugins`` listing them.

The examples under examples/plugins/ are not published (they are starting points to copy), so only the
static checks cover them. Every plugin installs with its dependencies (mlflow-skinny and wandb included: about
40 s together on a busy machine), and each module its code imports must be the stdlib's, its own or a declared
dependency's (statically), and must import in the venv: the hooks import MLflow and W&B only when a run starts,
so loading the entry points alone would not show a missing one.

Usage: ``python tools/release_check.py [--dist-dir DIR] [--no-install]``.
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CORE = "customrun-core"
# Distributions whose import name is not their own name.
IMPORT_NAMES = {"mlflow-skinny": "mlflow", "customrun-core": "customrun_core"}
# Files an sdist holds beside the package: setuptools writes PKG-INFO, setup.cfg and NAME.egg-info/ itself.
SDIST_FILES = frozenset({"pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "PKG-INFO", "setup.cfg"})
# Runs inside the fresh venv: loads the entry points of the distributions named in argv, lists all.
LOAD_ENTRY_POINTS = """
import json, re, sys
from importlib.metadata import distributions
found, failed = {}, []
for dist in distributions():
    name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
    for ep in dist.entry_points:
        if not ep.group.startswith("customrun."):
            continue
        found.setdefault(name, []).append(f"{ep.group}:{ep.name}")
        if name in sys.argv[1:]:
            try:
                ep.load()
            except Exception as error:
                failed.append(f"{ep.group}:{ep.name} = {ep.value}: {type(error).__name__}: {error}")
print(json.dumps({"found": found, "failed": failed}))
"""


@dataclass(frozen=True)
class Distribution:
    """One publishable distribution: its folder and its pyproject.toml ``[project]`` table."""

    folder: Path
    project: dict[str, Any]

    @property
    def name(self) -> str:
        return canonicalize_name(self.project["name"])

    @property
    def version(self) -> Version:
        return Version(self.project["version"])

    @property
    def package(self) -> str:
        """The import package, named as the distribution with underscores (a policy the plugins follow)."""
        return self.name.replace("-", "_")

    def entry_points(self) -> set[str]:
        """``group:name`` of each entry point in a ``customrun.*`` group, as pyproject.toml declares them."""
        tables = self.project.get("entry-points", {})
        return {
            f"{group}:{name}"
            for group, table in tables.items()
            if group.startswith("customrun.")
            for name in table
        }


def load(folder: Path) -> Distribution:
    """Read ``folder/pyproject.toml``."""
    with (folder / "pyproject.toml").open("rb") as file:
        return Distribution(folder, tomllib.load(file)["project"])


def distributions(root: Path = ROOT, *, examples: bool = False) -> list[Distribution]:
    """The core first, then each plugin under plugins/ (and examples/plugins/ if ``examples``), by name."""
    folders = sorted((root / "plugins").glob("*/pyproject.toml"))
    if examples:
        folders += sorted((root / "examples" / "plugins").glob("*/pyproject.toml"))
    return [load(root), *(load(path.parent) for path in folders)]


def core_range_problems(core: Distribution, plugins: list[Distribution]) -> list[str]:
    """One line per plugin whose ``customrun-core`` requirement is missing or excludes the core's version."""
    problems = []
    for plugin in plugins:
        requirements = [Requirement(text) for text in plugin.project.get("dependencies", [])]
        ranges = [req.specifier for req in requirements if canonicalize_name(req.name) == CORE]
        if not ranges:
            problems.append(f"{plugin.folder}/pyproject.toml: {plugin.name} does not require {CORE}")
        elif not ranges[0].contains(core.version, prereleases=True):
            problems.append(
                f"{plugin.folder}/pyproject.toml: {plugin.name} requires {CORE}{ranges[0]}, "
                f"which excludes the core's version {core.version}"
            )
    return problems


def metadata_problems(dist: Distribution, known_classifiers: set[str] | None = None) -> list[str]:
    """What PyPI's page of ``dist`` would lack: readme, license, classifiers, requires-python."""
    where, project, problems = f"{dist.folder}/pyproject.toml", dist.project, []
    for key in ("description", "readme", "license", "requires-python", "classifiers"):
        if not project.get(key):
            problems.append(f"{where}: [project] has no {key}")
    problems += [
        f"{where}: no file {name} beside it"
        for name in ("README.md", "LICENSE")
        if not (dist.folder / name).is_file()
    ]
    if known_classifiers is not None:
        problems += [
            f"{where}: unknown classifier {text!r}"
            for text in project.get("classifiers", [])
            if text not in known_classifiers
        ]
    return problems


def third_party_imports(dist: Distribution) -> set[str]:
    """The top-level modules ``dist``'s package imports, anywhere in its code, less the stdlib and its own."""
    imported: set[str] = set()
    for path in sorted((dist.folder / dist.package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    return imported - {dist.package, *sys.stdlib_module_names}


def undeclared_imports(dist: Distribution) -> list[str]:
    """One line per module ``dist``'s package imports that neither the stdlib nor a dependency provides."""
    provided = set()
    for text in dist.project.get("dependencies", []):
        name = canonicalize_name(Requirement(text).name)
        provided.add(IMPORT_NAMES.get(name, name.replace("-", "_")))
    return [
        f"{dist.folder}: imports {name}, which no declared dependency provides"
        for name in sorted(third_party_imports(dist) - provided)
    ]


def visible_files(folder: Path, root: Path = ROOT) -> list[str]:
    """Files under ``folder`` that git tracks or would add (not ignored), relative to ``folder``."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    files = [name for name in listing if name and (folder / name).is_file()]
    if folder == root:  # the core's copy leaves out the other distributions
        files = [name for name in files if not name.startswith(("plugins/", "examples/plugins/"))]
    return files


def build(dist: Distribution, source: Path, outdir: Path) -> tuple[Path, Path]:
    """Build an sdist, then a wheel from it, of a clean copy of ``dist``'s visible files."""
    for name in visible_files(dist.folder):
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(dist.folder / name, target)
    run = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(outdir), str(source)],
        check=False,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:  # builds run side by side: their output is shown only when one fails
        raise SystemExit(f"release_check: building {dist.name} failed:\n{run.stdout}{run.stderr}")
    stem = f"{dist.package}-{dist.version}"
    return outdir / f"{stem}.tar.gz", outdir / f"{stem}-py3-none-any.whl"


def archive_problems(dist: Distribution, sdist: Path, wheel: Path) -> list[str]:
    """The sdist holds the package and SDIST_FILES only, the wheel the package; both hold every module."""
    package = sorted(name for name in visible_files(dist.folder) if name.startswith(f"{dist.package}/"))
    with tarfile.open(sdist) as tar:
        in_sdist = {
            str(PurePosixPath(*PurePosixPath(m.name).parts[1:])) for m in tar.getmembers() if m.isfile()
        }
    with zipfile.ZipFile(wheel) as zipped:
        in_wheel = set(zipped.namelist())
    egg_info = f"{dist.package}.egg-info/"
    extra = sorted(name for name in in_sdist - set(package) - SDIST_FILES if not name.startswith(egg_info))
    problems = [f"{sdist.name}: holds {name}, which building the wheel does not need" for name in extra]
    problems += [
        f"{sdist.name}: lacks {name}"
        for name in [*package, *sorted(SDIST_FILES - {"setup.cfg"})]
        if name not in in_sdist
    ]
    license_file = f"{dist.package}-{dist.version}.dist-info/licenses/LICENSE"
    problems += [f"{wheel.name}: lacks {name}" for name in [*package, license_file] if name not in in_wheel]
    outside = sorted(
        name for name in in_wheel if not name.startswith((f"{dist.package}/", f"{dist.package}-"))
    )
    problems += [f"{wheel.name}: holds {name}, outside its package" for name in outside]
    return problems


def pip(python: Path, command: str, *args: str) -> None:
    """Run this environment's pip on the venv of ``python``; torch comes from PIP_CONSTRAINT, as everywhere.

    The venv has no pip of its own (seeding one costs seconds); installs skip byte-compiling, which takes
    most of the time torch's install takes otherwise.
    """
    options = ["--no-compile"] if command == "install" else ["-y"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "--disable-pip-version-check",
            "-q",
            command,
            *options,
            *args,
        ],
        check=True,
    )


def entry_point_problems(python: Path, dist: Distribution, alone: set[str]) -> list[str]:
    """Load ``dist``'s entry points in the venv of ``python``; only the distributions ``alone`` may have any."""
    run = subprocess.run(
        [str(python), "-c", LOAD_ENTRY_POINTS, dist.name], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        return [f"{dist.name}: loading its entry points failed:\n{run.stderr[-2000:]}"]
    report = json.loads(run.stdout)
    problems = [f"{dist.name}: {line}" for line in report["failed"]]
    declared, found = dist.entry_points(), set(report["found"].get(dist.name, []))
    if declared != found:
        problems.append(f"{dist.name}: entry points declared {sorted(declared)}, installed {sorted(found)}")
    others = sorted(set(report["found"]) - alone)
    if others:
        problems.append(f"{dist.name}: not alone, the venv also has entry points of {others}")
    return problems


def install_problems(
    venv: Path, core: tuple[Distribution, Path], plugins: list[tuple[Distribution, Path]]
) -> list[str]:
    """The core's wheel in a fresh venv, then each plugin's beside it alone, then all plugins together."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    core_dist, core_wheel = core
    pip(python, "install", str(core_wheel))
    problems = entry_point_problems(python, core_dist, {core_dist.name})
    for dist, wheel in plugins:
        started = time.perf_counter()
        # The core's wheel is named again: a range that excluded it fails here, instead of fetching another.
        pip(python, "install", str(wheel), str(core_wheel))
        problems += entry_point_problems(python, dist, {core_dist.name, dist.name})
        modules = sorted(third_party_imports(dist))
        imported = subprocess.run(
            [
                str(python),
                "-c",
                "import importlib, sys\nfor name in sys.argv[1:]: importlib.import_module(name)",
                *modules,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if imported.returncode != 0:
            problems.append(f"{dist.name}: importing {modules} failed:\n{imported.stderr[-2000:]}")
        pip(python, "uninstall", dist.name)
        print(f"release_check: {dist.name} alone beside the core: {time.perf_counter() - started:.1f} s")
    pip(python, "install", "--no-deps", *(str(wheel) for _, wheel in plugins))
    for dist, _ in plugins:
        problems += entry_point_problems(python, dist, {core_dist.name} | {d.name for d, _ in plugins})
    listed = subprocess.run(
        [str(venv / "bin" / "customrun"), "plugins"], capture_output=True, text=True, check=False
    )
    if listed.returncode != 0:
        problems.append(
            f"customrun plugins, all plugins installed: exit {listed.returncode}\n{listed.stderr}"
        )
    checked = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    if checked.returncode != 0:  # every installed distribution's requirements met, the plugins' included
        problems.append(f"pip check, all plugins installed:\n{checked.stdout}")
    return problems


def known_classifiers() -> set[str] | None:
    """PyPI's classifiers, from the trove-classifiers package where installed (`tox -e release` has it)."""
    try:
        from trove_classifiers import classifiers
    except ImportError:
        return None
    return set(classifiers)


def main(argv: list[str] | None = None) -> int:
    """Run every check; print each problem on a line of its own; exit 1 if there was any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist-dir", type=Path, help="where the sdists and wheels go (default: a temp dir)")
    parser.add_argument("--no-install", action="store_true", help="build and check, but install nothing")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    core, *plugins = distributions()
    problems = core_range_problems(core, plugins)
    problems += [line for dist in [core, *plugins] for line in metadata_problems(dist, known_classifiers())]
    problems += [line for dist in plugins for line in undeclared_imports(dist)]
    with tempfile.TemporaryDirectory(prefix="customrun-release-") as scratch:
        dist_dir = args.dist_dir or Path(scratch, "dist")
        shutil.rmtree(dist_dir, ignore_errors=True)  # an earlier run's files would be checked again
        built = []
        # Side by side: each build spends most of its time setting up its isolated environment.
        with ThreadPoolExecutor(max_workers=4) as pool:
            archives = pool.map(
                lambda dist: build(dist, Path(scratch, "src", dist.name), dist_dir), [core, *plugins]
            )
            for dist, (sdist, wheel) in zip([core, *plugins], archives, strict=True):
                problems += archive_problems(dist, sdist, wheel)
                built.append((dist, wheel))
        print(
            f"release_check: built {2 * len(built)} files in {dist_dir}: {time.perf_counter() - started:.0f} s"
        )
        twine = subprocess.run(
            [sys.executable, "-m", "twine", "check", "--strict", *map(str, sorted(dist_dir.iterdir()))],
            check=False,
        )
        if twine.returncode != 0:
            problems.append("twine check --strict failed (above)")
        if not args.no_install:
            problems += install_problems(Path(scratch, "venv"), built[0], built[1:])
    for line in problems:
        print(f"release_check: {line}", file=sys.stderr)
    verdict = f"{len(problems)} problem(s)" if problems else "every distribution is ready to publish"
    print(f"release_check: {verdict} ({time.perf_counter() - started:.0f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
