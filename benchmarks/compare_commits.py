"""W1 (customrun, default hooks) at another commit against this tree, interleaved in one run.

"This change costs nothing per iteration" is a claim about two versions of customrun, which
``run.py`` (customrun against its peers) does not compare. This runs W1 through ``customrun
train`` alternately from a git worktree of ``REV`` and from this checkout (the order flips every
round), reads the forward-call timestamps of ``workloads.Probe`` after two warm-up epochs, and
reports each side's median and the median of the paired ratios (this tree / REV):

    python benchmarks/compare_commits.py REV [--rounds 10] [--epochs 12] [--output FILE.md]

Both sides use this environment's installed distributions (entry points included), so REV must
have the same components by name; only ``customrun_core`` comes from REV's tree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import run

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PER_EPOCH, WARM_UP = 45, 2  # W1's iterations per epoch; epochs before the measured window


def one_run(tree: Path, epochs: int, directory: Path) -> float:
    """Microseconds per iteration of one ``customrun train`` of W1 importing customrun_core from ``tree``."""
    marks = [WARM_UP * PER_EPOCH, epochs * PER_EPOCH - 1]
    out = directory / "probe.json"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(tree), str(HERE)]),
        run.PROBE_ENV: json.dumps({"out": str(out), "marks": marks}),
    }
    command = run.customrun_command("w1", {})(directory, epochs)  # the very command run.py measures
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=directory)
    stamps = json.loads(out.read_text("utf-8"))["stamps"]
    return (stamps[-1][1] - stamps[0][1]) / (marks[1] - marks[0]) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", help="the commit to compare this tree against")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--output", type=Path, help="also write the table here (Markdown)")
    args = parser.parse_args(argv)
    results: dict[str, list[float]] = {args.rev: [], "this tree": []}
    with tempfile.TemporaryDirectory() as scratch:
        worktree = Path(scratch) / "rev"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(worktree), args.rev], check=True
        )
        try:
            sides = [(args.rev, worktree), ("this tree", ROOT)]
            for round_ in range(args.rounds):
                for name, tree in sides if round_ % 2 == 0 else sides[::-1]:
                    with tempfile.TemporaryDirectory() as directory:
                        results[name].append(one_run(tree, args.epochs, Path(directory)))
                    print(
                        f"round {round_ + 1}/{args.rounds}: {name}: {results[name][-1]:.0f} us/iteration",
                        flush=True,
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False
            )
    pairs = [after / before for before, after in zip(*results.values(), strict=True)]
    lines = [
        f"W1, customrun default hooks, {args.rounds} interleaved rounds of {args.epochs} epochs"
        f" ({WARM_UP} warm-up); load average before: {os.getloadavg()[0]:.2f}",
        "",
        "| tree | us/iteration, median | each round |",
        "|---|---:|---|",
        *(
            f"| {name} | {statistics.median(v):.0f} | {', '.join(f'{x:.0f}' for x in v)} |"
            for name, v in results.items()
        ),
        "",
        f"paired ratio (this tree / {args.rev}), median: **{statistics.median(pairs):.3f}x**"
        f" (min {min(pairs):.3f}, max {max(pairs):.3f})",
    ]
    print("\n".join(lines))
    if args.output:
        args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
