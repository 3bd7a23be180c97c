"""Start-up cost of `customrun plugins` and `customrun --help` with 200 plugin distributions installed.

Writes 200 small distributions (each with a component entry point and a pluggy-style plugin
entry point whose module would fail loudly if imported) into a temporary folder, then times the
two commands with and without that folder on PYTHONPATH, interleaved, and reports medians and
ratios. Neither command may import torch or any plugin's code; the script checks that too.

    python benchmarks/plugin_startup.py [--plugins 200] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from customrun_core.testing import make_distribution

COMMANDS = {"customrun plugins --json": ["plugins", "--json"], "customrun --help": ["--help"]}
PROBE = (
    "import sys; from customrun_core.cli import cli\n"
    "try:\n    cli({args!r}, prog_name='customrun')\nexcept SystemExit:\n    pass\n"
    "bad = [m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith('bench_plugin_')]\n"
    "assert not bad, bad\n"
)


LISTING_PLUGIN = "raise RuntimeError('a listing imported plugin code')\n"


def make_plugins(root: Path, count: int, stem: str = "bench", source: str = LISTING_PLUGIN) -> None:
    """``count`` distributions ``customrun-<stem>N`` in ``root``, each with a ``customrun.hooks``
    component and a ``customrun.plugins`` module whose code is ``source`` (by default one that
    raises if imported: listing plugins must not import them)."""
    for i in range(count):
        make_distribution(
            root,
            f"customrun-{stem}{i}",
            version=f"1.{i}",
            entry_points={
                "customrun.hooks": {f"{stem.title()}Hook{i}": f"{stem}_plugin_{i}:Hook"},
                "customrun.plugins": {f"{stem}{i}": f"{stem}_plugin_{i}"},
            },
            modules={f"{stem}_plugin_{i}.py": source},
            requires=("customrun-core>=0.1,<0.2",),
        )


def run_once(args: list[str], pythonpath: str | None) -> float:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args)], env=env, check=True, stdout=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        make_plugins(Path(folder), options.plugins)
        listed = subprocess.run(
            [sys.executable, "-m", "customrun_core", "plugins", "--json"],
            env={**os.environ, "PYTHONPATH": folder},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert (
            len([r for r in json.loads(listed) if r["distribution"].startswith("customrun-bench")])
            == options.plugins
        )
        times: dict[tuple[str, bool], list[float]] = {
            (name, with_plugins): [] for name in COMMANDS for with_plugins in (False, True)
        }
        for _ in range(options.repeats):  # interleaved, so machine noise hits every variant alike
            for name, args in COMMANDS.items():
                for with_plugins in (False, True):
                    times[name, with_plugins].append(run_once(args, folder if with_plugins else None))
    print(f"| command | 0 plugins (median s) | {options.plugins} plugins (median s) | ratio |")
    print("|---|---|---|---|")
    for name in COMMANDS:
        bare, loaded = statistics.median(times[name, False]), statistics.median(times[name, True])
        print(f"| `{name}` | {bare:.3f} | {loaded:.3f} | {loaded / bare:.2f}x |")


if __name__ == "__main__":
    main()
