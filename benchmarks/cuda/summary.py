"""The summary of a ``check.sh`` run: ``summary.json`` and ``summary.md`` in its output folder.

It reads what the earlier steps left there: ``cuda-tests.xml`` (pytest's JUnit report of the tests
marked ``cuda``), ``throughput.json`` and ``throughput.md`` (``throughput.py``). A missing file is
reported as such, never taken for a pass.

    python benchmarks/cuda/summary.py --out DIR --dry-run 0|1 --seconds N --failed 0|1

Exit status: 1 when a test failed or errored, or an earlier step failed (``--failed 1``), else 0.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


def read_tests(report: Path) -> dict[str, Any]:
    """Counts and the failed and skipped tests (with the first line of why) of a JUnit report."""
    if not report.is_file():
        return {"ran": False, "failed": [], "skipped": [], "passed": 0}
    root = ET.parse(report).getroot()
    passed, failed, skipped = 0, [], []
    for case in root.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skip = case.find("skipped")
        if problem is not None:
            failed.append({"test": name, "why": (problem.get("message") or "").splitlines()[:1]})
        elif skip is not None:
            skipped.append({"test": name, "why": skip.get("message", "")})
        else:
            passed += 1
    return {"ran": True, "passed": passed, "failed": failed, "skipped": skipped}


# Goals of issue 17 that a test decides: the goal, and the tests (JUnit names) that must pass for it.
TEST_GOALS = {
    "float16 AMP with dynamic loss scaling recovers from an injected overflow, the step skipped and counted": [
        "plugins.customrun-amp.tests.test_cuda::test_an_inf_gradient_skips_the_step_and_halves_the_scale",
    ],
}


def test_goals(tests: dict[str, Any], dry_run: bool) -> list[dict[str, Any]]:
    """Each test-decided goal: met when its tests passed, missed when one failed, else not evaluated."""
    failed = {case["test"] for case in tests["failed"]}
    skipped = {case["test"] for case in tests["skipped"]}
    goals = []
    for goal, names in TEST_GOALS.items():
        if dry_run or not tests["ran"] or any(name in skipped for name in names):
            met: bool | None = None
        else:
            met = not any(name in failed for name in names)
        goals.append({"goal": goal, "measured": ", ".join(n.rpartition("::")[2] for n in names), "met": met})
    return goals


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def markdown(summary: dict[str, Any], throughput_md: str) -> str:
    tests = summary["tests"]
    lines = [
        f"# customrun on CUDA: {'dry run on the CPU' if summary['dry_run'] else 'GPU check'}",
        "",
        f"- date: {summary['date']}; {summary['seconds']} s in all; result: "
        + ("**failed**" if summary["failed"] else "passed"),
    ]
    environment = (summary.get("throughput") or {}).get("environment")
    if environment:
        lines.append(f"- environment: {json.dumps(environment)}")
    lines += ["", "## Goals", "", "| goal | measured | met |", "|---|---|---|"]
    for goal in summary["goals"]:
        met = {True: "yes", False: "**no**", None: "not evaluated"}[goal["met"]]
        lines.append(f"| {goal['goal']} | {goal.get('measured', goal.get('detail', ''))} | {met} |")
    lines += ["", "## Tests marked cuda", ""]
    if not tests["ran"]:
        lines.append("The tests did not run (no report): see cuda-tests.txt.")
    else:
        lines.append(
            f"{tests['passed']} passed, {len(tests['failed'])} failed, {len(tests['skipped'])} skipped."
        )
        for case in tests["failed"]:
            lines.append(f"- FAILED {case['test']}: {' '.join(case['why'])}")
        for case in tests["skipped"]:
            lines.append(f"- skipped {case['test']}: {case['why']}")
    lines += ["", "## Throughput", ""]
    lines.append(throughput_md.strip() or "The benchmark wrote no table: see throughput.log.")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dry-run", type=int, default=0)
    parser.add_argument("--seconds", type=int, default=0)
    parser.add_argument("--failed", type=int, default=0)
    args = parser.parse_args()
    tests = read_tests(args.out / "cuda-tests.xml")
    throughput = read_json(args.out / "throughput.json")
    failed = bool(args.failed) or not tests["ran"] or bool(tests["failed"]) or throughput is None
    summary = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "dry_run": bool(args.dry_run),
        "seconds": args.seconds,
        "failed": failed,
        "tests": tests,
        "throughput": throughput,
        "goals": [*(throughput or {}).get("goals", []), *test_goals(tests, bool(args.dry_run))],
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    throughput_md = (
        (args.out / "throughput.md").read_text(encoding="utf-8")
        if (args.out / "throughput.md").is_file()
        else ""
    )
    (args.out / "summary.md").write_text(markdown(summary, throughput_md), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
