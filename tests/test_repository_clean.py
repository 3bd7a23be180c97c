"""No run outputs in the repository (issue 21, item 13): a checkpoint committed under ``work/`` was
cloned by every user. Work directories are ignored by ``.gitignore`` and none is tracked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where runs write: ``work/`` at the top (what the docs' examples use; anchored, since a source folder
# deeper down may well be called ``work``), and ``work_dirs/`` (MMEngine's and customrun's default
# parent) and ``runs/`` (the README's examples) at any depth, as a run started in ``examples/`` makes them.
TOP_ONLY, ANY_DEPTH = ("work",), ("work_dirs", "runs")


def _git(*args: str) -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):  # check-ignore exits 1 when nothing is ignored
        pytest.skip(f"git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.splitlines()


def test_no_work_directory_is_tracked() -> None:
    tracked = _git("ls-files", "-z")
    paths = tracked[0].split("\0") if tracked else []
    inside = [
        p for p in paths if p and (Path(p).parts[0] in TOP_ONLY or set(Path(p).parts[:-1]) & set(ANY_DEPTH))
    ]
    assert inside == []


def test_work_directories_are_ignored_at_the_top_and_not_what_the_repository_needs() -> None:
    probes = [f"{d}/digits/epoch_1.pt" for d in TOP_ONLY + ANY_DEPTH]
    probes += [f"examples/{d}/digits/run.log" for d in ANY_DEPTH]
    assert _git("check-ignore", "--no-index", *probes) == probes
    # the patterns leave alone the sources whose names start like them
    needed = ["customrun_core/work_dir.py", "benchmarks/workloads.py", "examples/work/model.py"]
    assert _git("check-ignore", "--no-index", *needed) == []
