"""Which distributions customrun needs that this Python lacks, or has too old: one requirement per
word on stdout, for ``pip install --no-index --find-links WHEELS``.

customrun-core's own requirements are read from its pyproject.toml (torch is never installed: the
machine's build is used, whatever its version), plus what the CUDA tests use (scikit-learn, for the
digits, with its own needs) and, with ``--build``, what building the core from source takes.

    python benchmarks/cuda/needs.py [--build] [--wheels DIR]

With ``--wheels``, the requirements of each missing distribution's wheel in DIR are followed too
(importlib-metadata needs zipp and lazy-importer, ...), so that ``pip install --no-deps`` of the
list is complete.
"""

from __future__ import annotations

import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
NEVER = {"torch"}  # the machine's own build, never replaced
TESTS = ["scikit-learn>=1.3", "scipy", "joblib", "threadpoolctl"]  # the digits the CUDA tests train on
BUILD = ["setuptools>=77"]  # pyproject.toml's build-system


def missing(requirements: list[str]) -> list[str]:
    """The requirements that no installed distribution meets."""
    lacking = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.name in NEVER:
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            lacking.append(text)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            lacking.append(text)
    return lacking


def wheel_requirements(wheels: Path, name: str) -> list[str]:
    """What the wheel of ``name`` in ``wheels`` requires on this Python (no extras); [] without one."""
    for path in sorted(wheels.glob("*.whl")):
        if parse_wheel_filename(path.name)[0] != canonicalize_name(name):
            continue
        with zipfile.ZipFile(path) as wheel:
            text = next(wheel.read(n).decode() for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        requirements = [Requirement(r) for r in HeaderParser().parsestr(text).get_all("Requires-Dist") or []]
        wanted = [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]
        return [f"{r.name}{r.specifier}" for r in wanted]  # markers evaluated: no spaces
    return []


def closure(lacking: list[str], wheels: Path | None) -> list[str]:
    """``lacking`` and, through the wheels' metadata, every requirement of theirs this Python lacks."""
    result, queue = [], list(lacking)
    while queue:
        text = queue.pop(0)
        if any(Requirement(text).name == Requirement(known).name for known in result):
            continue
        result.append(text)
        if wheels is not None:
            queue += missing(wheel_requirements(wheels, Requirement(text).name))
    return result


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = list(project["dependencies"]) + TESTS + (BUILD if "--build" in sys.argv else [])
    wheels = Path(sys.argv[sys.argv.index("--wheels") + 1]) if "--wheels" in sys.argv else None
    print(" ".join(closure(missing(wanted), wheels)))  # no requirement has a space


if __name__ == "__main__":
    main()
