"""customrun's benchmark suite (issue 8): its overhead next to a hand-written loop and its peers.

Every measurement runs in a process of its own, on one CPU thread (``OMP_NUM_THREADS=1`` and
``torch.set_num_threads(1)``); the contenders of a benchmark take turns in every round (the order
rotated), and each figure is a median with the fastest and slowest values beside it. Sections:

- **W1**, overhead-bound: MLP 64-256-256-10 on the digits, batch 32, SGD with momentum: the
  hand-written loop, ``customrun train`` with its default hooks (logger every 50 iterations,
  checkpoint at the end) and with the per-iteration hooks off, MMEngine's Runner and Lightning's
  Trainer (defaults, and everything off) when they are installed; time per iteration in steady
  state, time to the first iteration and peak resident memory of each process.
- **W2**, compute-bound: a small CNN on random 1x28x28 images, batch 64: hand-written vs customrun.
- **Hook dispatch**: one hook point with 0, 1 and 10 implementations (``hook_dispatch.py``).
- **Start-up**: ``customrun --help``, ``customrun plugins``, and ``customrun train`` up to its first
  iteration with 0, 4 (the first-party plugins) and 200 plugin distributions installed, against
  ``import torch`` plus building the model.
- **LARS**: ``lars_step.py`` on one thread.

Results: ``benchmarks/results/bench.json`` (every figure) and ``bench.md`` (the tables and the
goals of issue 8). ``--quick`` runs one short round of everything (a smoke test, about three
minutes) and writes to ``benchmarks/results/quick/``.

    python benchmarks/run.py [--quick] [--output-dir DIR] [--only w1,w2,dispatch,startup,lars]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import importlib.util
import itertools
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import machine
import plugin_startup
import tomli_w

HERE = Path(__file__).resolve().parent
WORKLOADS = HERE / "workloads.py"
PROBE_ENV = "CUSTOMRUN_BENCH_PROBE"  # as workloads.PROBE_ENV (this process imports no torch)
DIGITS_TRAIN = 1438  # DigitsDataset's train split: 1,797 images less round(0.2 * 1,797)
W2_SAMPLES = 1280
BATCH = {"w1": 32, "w2": 64}
OPTIMIZER = {"type": "SGD", "lr": 0.01, "momentum": 0.9}  # as workloads.LR, MOMENTUM
FIRST_PARTY = ("customrun-amp", "customrun-cosine", "customrun-lars", "customrun-layer-decay")
SECTIONS = ("w1", "w2", "dispatch", "startup", "lars")
GOALS = {
    "w1_default": 1.03,
    "w1_trimmed": 1.01,
    "w2": 1.01,
    "help_s": 0.15,
    "first_iter_s": 0.3,
    "rss_mb": 30,
}
CHILD_TIMEOUT_S = 600


@dataclasses.dataclass(frozen=True)
class Settings:
    rounds: int  # processes per contender in W1 and W2
    warm_epochs: int  # epochs before the first measured window
    windows: dict[str, int]  # measured windows per process, by workload
    window_epochs: dict[str, int]  # epochs per window, by workload
    startup_rounds: int
    plugins: int
    dispatch_rounds: int
    dispatch_calls: int
    lars_rounds: int
    lars_warmup: int


FULL = Settings(5, 2, {"w1": 6, "w2": 8}, {"w1": 5, "w2": 1}, 5, 200, 15, 20000, 31, 3)
QUICK = Settings(1, 1, {"w1": 1, "w2": 1}, {"w1": 2, "w2": 1}, 1, 200, 2, 2000, 2, 1)


# -- child processes ------------------------------------------------------------------------------
@dataclasses.dataclass
class Outcome:
    """One measured process: its wall time, its peak resident memory (``ru_maxrss`` from wait4),
    when it was started (``time.time()``), and what its forward-call probe recorded."""

    returncode: int
    wall_s: float
    rss_mb: float
    spawned_at: float
    probe: dict[str, Any] | None
    probed: bool  # whether a probe was asked for
    stderr_tail: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and (self.probe is not None or not self.probed)

    def first_iteration_s(self) -> float:
        assert self.probe is not None
        return self.probe["stamps"][0][3] - self.spawned_at


class Children:
    """Starts the measured processes: one thread, ``benchmarks/`` importable, a scratch directory each."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.count = 0
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOMRUN_", "PYTHON"))}
        self.env.update(
            {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(HERE), "PYTHONHASHSEED": "0"}
        )

    def workdir(self) -> Path:
        self.count += 1
        path = self.scratch / f"run{self.count:04d}"
        path.mkdir()
        return path

    def run(self, command: Sequence[str], workdir: Path, marks: Sequence[int] = ()) -> Outcome:
        env = dict(self.env)
        probe_file = workdir / "probe.json"
        if marks:
            env[PROBE_ENV] = json.dumps({"out": str(probe_file), "marks": list(marks)})
        stderr_path = workdir / "stderr.txt"
        with open(stderr_path, "wb") as stderr:
            spawned_at, start = time.time(), time.perf_counter()
            process = subprocess.Popen(
                command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=stderr
            )
            timer = threading.Timer(CHILD_TIMEOUT_S, process.kill)
            timer.start()
            _, status, usage = os.wait4(process.pid, 0)  # the child's own rusage: its peak RSS
            wall = time.perf_counter() - start
            timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        probe = json.loads(probe_file.read_text()) if probe_file.exists() else None
        tail = "\n".join(stderr_path.read_text(errors="replace").splitlines()[-8:])
        return Outcome(process.returncode, wall, usage.ru_maxrss / 1024, spawned_at, probe, bool(marks), tail)


def rotated(items: Sequence[Any], round_index: int) -> list[Any]:
    shift = round_index % len(items) if items else 0
    return [*items[shift:], *items[:shift]]


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# -- W1 and W2 ------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Contender:
    key: str
    label: str
    command: Callable[[Path, int], list[str]]  # (work dir, epochs) -> argv
    required: bool = True  # a failure of a peer only drops it; of raw or customrun, stops the suite


HOOKS_DEFAULT: dict[str, Any] = {"logger": {"interval": 50}, "checkpoint": {"interval": -1}}
# The hooks that run every iteration, off; DistSamplerSeedHook (once per epoch) keeps the shuffle
# order changing each epoch as the hand-written loop's.
HOOKS_TRIMMED: dict[str, Any] = dict.fromkeys(
    ("runtime_info", "timer", "logger", "param_scheduler", "checkpoint"), False
)


def customrun_config(workload: str, epochs: int, hooks: dict[str, Any], samples: int) -> dict[str, Any]:
    """The workload as a customrun config: the same model classes through ``custom_imports``."""
    if workload == "w1":
        backbone, dataset = {"type": "ProbedMLP"}, {"type": "DigitsDataset", "split": "train"}
    else:
        backbone, dataset = {"type": "SmallCNN"}, {"type": "RandomImages", "size": samples}
    return {
        "custom_imports": {"imports": ["customrun_components"], "allow_failed_imports": False},
        "model": {"type": "ClassifierModel", "backbone": backbone},
        "train_dataloader": {"batch_size": BATCH[workload], "shuffle": True, "dataset": dataset},
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": epochs},
        "optim_wrapper": {"optimizer": OPTIMIZER},
        "default_hooks": hooks,
        "randomness": {"seed": 0},
    }


def customrun_command(
    workload: str, hooks: dict[str, Any], samples: int = W2_SAMPLES
) -> Callable[[Path, int], list[str]]:
    def command(workdir: Path, epochs: int) -> list[str]:
        config = workdir / "config.toml"
        config.write_text(tomli_w.dumps(customrun_config(workload, epochs, hooks, samples)), "utf-8")
        return [
            sys.executable,
            "-m",
            "customrun_core",
            "train",
            str(config),
            "--work-dir",
            str(workdir / "work"),
        ]

    return command


def workload_command(
    variant: str, workload: str, samples: int = W2_SAMPLES
) -> Callable[[Path, int], list[str]]:
    def command(workdir: Path, epochs: int) -> list[str]:
        return [sys.executable, str(WORKLOADS), variant, "--workload", workload, "--epochs", str(epochs),
                "--samples", str(samples), "--work-dir", str(workdir / "work")]  # fmt: skip

    return command


def peers_available() -> dict[str, str | None]:
    """Which peers can run, or why not (None when they can)."""
    lightning = importlib.util.find_spec("lightning") or importlib.util.find_spec("pytorch_lightning")
    return {
        "mmengine": None if importlib.util.find_spec("mmengine") else "mmengine is not installed",
        "lightning": None if lightning else "neither lightning nor pytorch-lightning is installed",
    }


def contenders(workload: str, peers: dict[str, str | None]) -> list[Contender]:
    found = [
        Contender("raw", "hand-written loop", workload_command("raw", workload)),
        Contender("customrun", "customrun, default hooks", customrun_command(workload, HOOKS_DEFAULT)),
        Contender("customrun_trimmed", "customrun, hooks trimmed", customrun_command(workload, HOOKS_TRIMMED)),
    ]  # fmt: skip
    if workload == "w1" and peers["mmengine"] is None:
        found += [
            Contender("mmengine", "MMEngine Runner, default hooks", workload_command("mmengine", workload), False),
            Contender("mmengine_trimmed", "MMEngine Runner, hooks off",
                      workload_command("mmengine-trimmed", workload), False),
        ]  # fmt: skip
    if workload == "w1" and peers["lightning"] is None:
        found += [
            Contender("lightning", "Lightning Trainer, defaults", workload_command("lightning", workload), False),
            Contender("lightning_off", "Lightning Trainer, everything off",
                      workload_command("lightning-off", workload), False),
        ]  # fmt: skip
    return found


def bench_training(
    children: Children, settings: Settings, workload: str, peers: dict[str, str | None]
) -> dict:
    """Per-iteration time in steady state: the probe notes the time at the first forward of the
    epochs that open each window; a window is ``window_epochs`` whole epochs, so every window holds
    the same number of epoch boundaries (and, for W1, of logging and shuffling work)."""
    size = DIGITS_TRAIN if workload == "w1" else W2_SAMPLES
    per_epoch = math.ceil(size / BATCH[workload])
    window_epochs = settings.window_epochs[workload]
    window_iters = window_epochs * per_epoch
    opens = [settings.warm_epochs + k * window_epochs for k in range(settings.windows[workload] + 1)]
    marks = [0, *(epoch * per_epoch for epoch in opens)]
    epochs = opens[-1] + 1  # the last window ends at the first forward of the last epoch
    active = contenders(workload, peers)
    runs: dict[str, list[dict[str, Any]]] = {c.key: [] for c in active}
    labels = {c.key: c.label for c in active}
    notes: list[str] = []
    for round_index in range(settings.rounds):
        for contender in rotated(list(active), round_index):
            workdir = children.workdir()
            outcome = children.run(contender.command(workdir, epochs), workdir, marks)
            if not outcome.ok:
                message = f"{contender.label} failed (exit {outcome.returncode}): {outcome.stderr_tail}"
                if contender.required:
                    raise RuntimeError(message)
                notes.append(message + "; left out of the remaining rounds")
                active.remove(contender)
                continue
            stamps = outcome.probe["stamps"]  # type: ignore[index]
            windows = list(itertools.pairwise(stamps[1:]))  # stamps[0]: the first iteration
            walls = [(b[1] - a[1]) / window_iters * 1e6 for a, b in windows]
            cpus = [(b[2] - a[2]) / window_iters * 1e6 for a, b in windows]
            runs[contender.key].append(
                {
                    "round": round_index,
                    "us_per_iter": walls,
                    "cpu_us_per_iter": cpus,
                    "first_iteration_s": outcome.first_iteration_s(),
                    "process_wall_s": outcome.wall_s,
                    "peak_rss_mb": outcome.rss_mb,
                    "threads": outcome.probe["threads"],  # type: ignore[index]
                }
            )
            progress(
                f"{workload.upper()} round {round_index + 1}/{settings.rounds}: {contender.label}: "
                f"{statistics.median(walls):.0f} us/iteration, {outcome.rss_mb:.0f} MB"
            )
    return {
        "workload": workload,
        "iterations_per_epoch": per_epoch,
        "epochs_per_process": epochs,
        "window_iterations": window_iters,
        "windows_per_process": settings.windows[workload],
        "warm_up_epochs": settings.warm_epochs,
        "labels": labels,
        "runs": runs,
        "summary": summarise_training(runs),
        "notes": notes,
    }


def summarise_training(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Medians over every window of every process; ratios to the hand-written loop, both of the
    pooled medians and paired round by round (a round's processes ran one after the other)."""
    raw_by_round = {r["round"]: statistics.median(r["us_per_iter"]) for r in runs["raw"]}
    raw_wall = statistics.median(w for r in runs["raw"] for w in r["us_per_iter"])
    raw_cpu = statistics.median(w for r in runs["raw"] for w in r["cpu_us_per_iter"])
    raw_rss = statistics.median(r["peak_rss_mb"] for r in runs["raw"])
    summary = {}
    for key, records in runs.items():
        if not records:
            continue
        walls = [w for r in records for w in r["us_per_iter"]]
        cpus = [w for r in records for w in r["cpu_us_per_iter"]]
        paired = [
            statistics.median(r["us_per_iter"]) / raw_by_round[r["round"]]
            for r in records
            if r["round"] in raw_by_round
        ]
        rss = statistics.median(r["peak_rss_mb"] for r in records)
        summary[key] = {
            "us_per_iter": spread(walls),
            "cpu_us_per_iter": statistics.median(cpus),
            "ratio": statistics.median(walls) / raw_wall,
            "ratio_fastest": min(walls) / min(w for r in runs["raw"] for w in r["us_per_iter"]),
            "ratio_cpu": statistics.median(cpus) / raw_cpu,
            "ratio_paired": spread(paired),
            "first_iteration_s": statistics.median(r["first_iteration_s"] for r in records),
            "peak_rss_mb": rss,
            "rss_over_raw_mb": rss - raw_rss,
            "processes": len(records),
            "threads": sorted({r["threads"] for r in records}),
        }
    return summary


# -- hook dispatch and LARS (their own scripts) ---------------------------------------------------
def bench_dispatch(children: Children, settings: Settings) -> dict:
    workdir = children.workdir()
    out = workdir / "dispatch.json"
    command = [sys.executable, str(HERE / "hook_dispatch.py"), "--rounds", str(settings.dispatch_rounds),
               "--calls", str(settings.dispatch_calls), "--json", str(out)]  # fmt: skip
    outcome = children.run(command, workdir)
    if not outcome.ok:
        raise RuntimeError(f"hook_dispatch.py failed: {outcome.stderr_tail}")
    times = json.loads(out.read_text())
    progress("hook dispatch done")
    return {
        "rounds": settings.dispatch_rounds,
        "calls_per_round": settings.dispatch_calls,
        "ns_per_call": {key: spread(values) for key, values in times.items()},
    }


def bench_lars(children: Children, settings: Settings) -> dict:
    if importlib.util.find_spec("customrun_lars") is None:
        return {"skipped": "customrun-lars is not installed"}
    workdir = children.workdir()
    command = [sys.executable, str(HERE / "lars_step.py"), "--threads", "1", "--rounds", str(settings.lars_rounds),
               "--warmup", str(settings.lars_warmup), "--output", str(workdir / "lars.md"),
               "--json", str(workdir / "lars.json")]  # fmt: skip
    outcome = children.run(command, workdir)
    if not outcome.ok:
        raise RuntimeError(f"lars_step.py failed: {outcome.stderr_tail}")
    progress("LARS step done")
    return json.loads((workdir / "lars.json").read_text())


# -- start-up -------------------------------------------------------------------------------------
def plugin_distributions(site: Path) -> dict[str, list[str]]:
    """Installed distributions (other than the core) with ``customrun.*`` entry points, and the
    top-level names of ``site`` that belong to each (dist-info, package, editable finder, .pth)."""
    found = {}
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if name == "customrun-core" or not any(ep.group.startswith("customrun.") for ep in dist.entry_points):
            continue
        found[name] = sorted(
            {f.parts[0] for f in dist.files or () if f.parts[0] not in ("..", "__pycache__")}
        )
    return found


def site_without_plugins(dest: Path, keep: Iterable[str]) -> list[str]:
    """A copy of this environment's site-packages, as symbolic links, without the plugin
    distributions not in ``keep``: the environment as it would be with only those installed.
    Returns the plugins it keeps."""
    sites = sorted({Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")})
    dest.mkdir(parents=True)
    kept = []
    for site in sites:
        owned = plugin_distributions(site)
        kept += [name for name in owned if name in keep]
        hidden = {entry for name, entries in owned.items() if name not in keep for entry in entries}
        for entry in site.iterdir():
            if entry.name not in hidden and entry.name != "__pycache__" and not (dest / entry.name).exists():
                (dest / entry.name).symlink_to(entry)
    return sorted(kept)


TRAIN_PLUGIN = """\
from customrun_core import hookimpl


@hookimpl
def before_run(runner):
    pass
"""


def python_with(sites: Sequence[Path], code: str) -> list[str]:
    """``python -S -c`` with exactly ``sites`` as site directories (their .pth files processed as
    at a normal start), then ``code``."""
    prelude = "import site\n" + "".join(f"site.addsitedir({str(s)!r})\n" for s in sites)
    return [sys.executable, "-S", "-c", prelude + code]


def cli_code(args: Sequence[str]) -> str:
    return f"import sys\nsys.argv = ['customrun', *{list(args)!r}]\nfrom customrun_core.cli import main\nmain()\n"


def script_code(path: Path, args: Sequence[str]) -> str:
    argv = [str(path), *args]
    return f"import runpy, sys\nsys.argv = {argv!r}\nrunpy.run_path({str(path)!r}, run_name='__main__')\n"


BUILD = "`import torch` + build the W2 model"
BUILD_OPTIMIZER = "`import torch` + build the W2 model and its SGD"
RAW_FIRST = "hand-written W2 loop to its first iteration"


@dataclasses.dataclass(frozen=True)
class StartupCase:
    name: str
    plugins: str  # how many plugin distributions are installed, as the table shows it
    command: Callable[[Path], list[str]]
    first_iteration: bool  # measure to the first forward call (else: the whole process)


def startup_cases(scratch: Path, settings: Settings) -> tuple[list[StartupCase], dict[str, Any]]:
    """The commands to time and the plugin sets they run with."""
    bare = scratch / "site-0"
    first_party = scratch / "site-first-party"
    listing, training = scratch / "listing-plugins", scratch / "train-plugins"
    site_without_plugins(bare, ())
    kept = site_without_plugins(first_party, FIRST_PARTY)
    plugin_startup.make_plugins(listing, settings.plugins)  # their modules raise if imported
    plugin_startup.make_plugins(training, settings.plugins, stem="trainbench", source=TRAIN_PLUGIN)
    n = settings.plugins
    listing_sets = {"0": [bare], str(len(kept)): [first_party], str(n): [bare, listing]}
    train_sets = {"0": [bare], str(len(kept)): [first_party], str(n): [bare, training]}
    tiny = customrun_config("w2", 1, HOOKS_DEFAULT, samples=128)  # two iterations
    w2 = ["--workload", "w2", "--samples", "128", "--epochs", "1"]

    def train(sites: list[Path]) -> Callable[[Path], list[str]]:
        def command(workdir: Path) -> list[str]:
            (workdir / "config.toml").write_text(tomli_w.dumps(tiny), "utf-8")
            return python_with(sites, cli_code(["train", "config.toml", "--work-dir", "work"]))

        return command

    cases = []
    for count, sites in listing_sets.items():
        for name, args in plugin_startup.COMMANDS.items():  # asserts: no torch, no plugin code
            code = plugin_startup.PROBE.format(args=args)
            cases.append(
                StartupCase(f"`{name}`", count, lambda _w, s=sites, c=code: python_with(s, c), False)
            )
    for count, sites in train_sets.items():
        cases.append(StartupCase("`customrun train` to its first iteration (W2, 2 iterations)", count,
                                 train(sites), True))  # fmt: skip
    cases += [
        StartupCase("`python -c 'import torch'`", "0", lambda _w: python_with([bare], "import torch\n"), False),
        StartupCase(BUILD, "0",
                    lambda w: python_with([bare], script_code(WORKLOADS, ["build", *w2, "--work-dir", str(w)])), True),
        StartupCase(BUILD_OPTIMIZER, "0", lambda w: python_with(
            [bare], script_code(WORKLOADS, ["build-optimizer", *w2, "--work-dir", str(w)])), True),
        StartupCase(RAW_FIRST, "0",
                    lambda w: python_with([bare], script_code(WORKLOADS, ["raw", *w2, "--work-dir", str(w)])), True),
    ]  # fmt: skip
    console = Path(sys.executable).parent / "customrun"
    if console.exists():
        env_count = len(plugin_distributions(Path(sysconfig.get_paths()["purelib"])))
        for name, args in plugin_startup.COMMANDS.items():
            cases.append(StartupCase(f"`{name}` (console script, this environment)", str(env_count),
                                     lambda _w, a=args: [str(console), *a], False))  # fmt: skip
    return cases, {"first_party_plugins": kept, "generated_plugins": n}


def bench_startup(children: Children, settings: Settings) -> dict:
    """Whole-process wall time (help, listing, imports) or time from the spawn to the first forward
    call (training), every case once per round in a rotated order, after one unrecorded round."""
    cases, plugin_sets = startup_cases(children.scratch / "startup", settings)
    times: dict[str, list[float]] = {f"{c.name}|{c.plugins}": [] for c in cases}
    for round_index in range(settings.startup_rounds + 1):
        for case in rotated(cases, round_index):
            workdir = children.workdir()
            outcome = children.run(case.command(workdir), workdir, [0] if case.first_iteration else ())
            if not outcome.ok:
                raise RuntimeError(f"{case.name} ({case.plugins} plugins) failed: {outcome.stderr_tail}")
            if round_index:
                value = outcome.first_iteration_s() if case.first_iteration else outcome.wall_s
                times[f"{case.name}|{case.plugins}"].append(value)
        progress(
            f"start-up round {round_index}/{settings.startup_rounds} done"
            + (" (warm-up)" * (not round_index))
        )
    return {
        **plugin_sets,
        "rounds": settings.startup_rounds,
        "seconds": {key: spread(values) for key, values in times.items()},
        "samples": times,
    }


# -- the report -----------------------------------------------------------------------------------
def environment() -> dict[str, Any]:
    names = ("torch", "customrun-core", "customrun-lars", "pluggy", "mmengine", "pytorch-lightning",
             "lightning", "numpy", "scikit-learn", "click")  # fmt: skip
    return {
        "python": platform.python_version(),
        "versions": {name: machine.version(name) for name in names},
        "cpu": machine.cpu_name(),
        "cpus": os.cpu_count(),
        "memory": machine.memory_total(),
        "platform": platform.platform(),
    }


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 8's goals, each with the measured value and whether it is met."""
    rows: list[dict[str, Any]] = []

    def add(goal: str, measured: str, met: bool) -> None:
        rows.append({"goal": goal, "measured": measured, "met": met})

    for workload, key, limit in (("w1", "customrun", GOALS["w1_default"]),
                                 ("w1", "customrun_trimmed", GOALS["w1_trimmed"]),
                                 ("w2", "customrun", GOALS["w2"])):  # fmt: skip
        summary = results.get(workload, {}).get("summary", {}).get(key)
        if summary:
            label = results[workload]["labels"][key]
            add(f"{workload.upper()} {label}: at most {limit:.2f}x the hand-written loop",
                f"{summary['ratio']:.3f}x (paired rounds {summary['ratio_paired']['min']:.3f}-"
                f"{summary['ratio_paired']['max']:.3f}x, CPU {summary['ratio_cpu']:.3f}x)",
                summary["ratio"] <= limit)  # fmt: skip
    w1 = results.get("w1", {}).get("summary", {}).get("customrun")
    if w1:
        add(f"W1 peak RSS at most {GOALS['rss_mb']} MB above the hand-written loop's",
            f"{w1['rss_over_raw_mb']:+.1f} MB ({w1['peak_rss_mb']:.0f} MB)", w1["rss_over_raw_mb"] <= GOALS["rss_mb"])  # fmt: skip
    startup = results.get("startup", {}).get("seconds", {})
    for key, value in startup.items():
        name, count = key.split("|")
        if name == "`customrun --help`":
            add(f"`customrun --help` under {GOALS['help_s']} s without importing torch ({count} plugins)",
                f"{value['median']:.3f} s, torch not imported", value["median"] < GOALS["help_s"])  # fmt: skip
    build, optimizer, raw = (startup.get(f"{name}|0") for name in (BUILD, BUILD_OPTIMIZER, RAW_FIRST))
    for key, value in startup.items():
        name, count = key.split("|")
        if not (build and optimizer and raw and name.startswith("`customrun train`")):
            continue
        first = value["median"]
        over = {label: first - base["median"] for label, base in
                (("model", build), ("optimizer", optimizer), ("raw", raw))}  # fmt: skip
        add(f"first iteration within {GOALS['first_iter_s']} s of `import torch` + model build ({count} plugins)",
            f"{first:.2f} s: {over['model']:+.2f} s over `import torch` + model build ({build['median']:.2f} s); "
            f"{over['optimizer']:+.2f} s over `import torch` + model and SGD ({optimizer['median']:.2f} s); "
            f"{over['raw']:+.2f} s over the hand-written loop's first iteration ({raw['median']:.2f} s)",
            over["model"] <= GOALS["first_iter_s"])  # fmt: skip
    return rows


def markdown(results: dict[str, Any]) -> str:
    env, meta = results["environment"], results["run"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    lines = [
        "# customrun benchmarks (issue 8)",
        "",
        f"- date: {meta['date']}; command: `{meta['command']}`; {meta['wall_minutes']:.1f} minutes",
        f"- machine: {env['cpu']}, {env['cpus']} CPUs, {env['memory']}, {env['platform']}; every measured process on one torch thread",
        f"- python {env['python']}; {versions}",
        f"- load average (1, 5, 15 min) before and after: {meta['load_before']}; {meta['load_after']} (other processes share the CPU)",
        "",
        "## Goals",
        "",
        "| goal | measured | met |",
        "|---|---|---|",
        *(f"| {g['goal']} | {g['measured']} | {'yes' if g['met'] else '**no**'} |" for g in results["goals"]),
        "",
    ]
    for workload, title in (("w1", "W1: MLP 64-256-256-10 on the digits, batch 32 (overhead-bound)"),
                            ("w2", "W2: small CNN on random 1x28x28 images, batch 64 (compute-bound)")):  # fmt: skip
        if workload in results:
            lines += training_table(results[workload], title)
    if "dispatch" in results:
        lines += dispatch_table(results["dispatch"])
    if "startup" in results:
        lines += startup_table(results["startup"])
    if "lars" in results:
        lars = results["lars"]
        lines += ["## LARS step (one thread)", ""]
        if "skipped" in lars:
            lines += [f"Skipped: {lars['skipped']}.", ""]
        else:
            body = lars["report"].split("\n", 1)[1]  # without its title
            lines += [re.sub(r"^## ", "### ", body, flags=re.MULTILINE).strip(), ""]
    return "\n".join(lines)


def training_table(section: dict[str, Any], title: str) -> list[str]:
    summary, labels = section["summary"], section["labels"]
    lines = [
        f"## {title}",
        "",
        f"{section['windows_per_process']} windows of {section['window_iterations']} iterations per process "
        f"after {section['warm_up_epochs']} warm-up epochs ({section['iterations_per_epoch']} iterations per epoch); "
        f"{max(s['processes'] for s in summary.values())} processes per contender, interleaved.",
        "",
        "| contender | us/iteration, median | fastest window | slowest window | CPU us/iteration | ratio to raw "
        "| ratio of fastest windows | paired ratio, median (min-max) | first iteration (s) | peak RSS (MB) "
        "| RSS over raw (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, s in summary.items():
        t = s["us_per_iter"]
        lines.append(
            f"| {labels[key]} | {t['median']:.0f} | {t['min']:.0f} | {t['max']:.0f} | {s['cpu_us_per_iter']:.0f} "
            f"| **{s['ratio']:.3f}x** | {s['ratio_fastest']:.3f}x | {s['ratio_paired']['median']:.3f}x ({s['ratio_paired']['min']:.3f}-"
            f"{s['ratio_paired']['max']:.3f}) | {s['first_iteration_s']:.2f} | {s['peak_rss_mb']:.0f} "
            f"| {s['rss_over_raw_mb']:+.0f} |"
        )
    lines += ["", *(f"- {note}" for note in section["notes"])]
    return [*lines, ""] if section["notes"] else lines


def dispatch_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "## Hook dispatch: one hook point, `before_train_iter`",
        "",
        f"Nanoseconds per call; {section['rounds']} rounds of {section['calls_per_round']} calls, interleaved.",
        "",
        "| dispatcher | 0 implementations | 1 | 10 |",
        "|---|---:|---:|---:|",
    ]
    names = dict.fromkeys(key.split("|")[0] for key in section["ns_per_call"])
    for name in names:
        cells = []
        for count in (0, 1, 10):
            t = section["ns_per_call"][f"{name}|{count}"]
            cells.append(f"{t['median']:.0f} ({t['min']:.0f}-{t['max']:.0f})")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return [*lines, ""]


def startup_table(section: dict[str, Any]) -> list[str]:
    lines = [
        "## Start-up",
        "",
        "Seconds: whole-process wall time, or from the spawn to the first forward call for rows "
        "that say so; medians (fastest-slowest) of "
        f"{section['rounds']} interleaved rounds after a warm-up round. Plugin sets: 0 (the "
        f"first-party plugins hidden), {len(section['first_party_plugins'])} "
        f"({', '.join(section['first_party_plugins'])}), {section['generated_plugins']} generated "
        "distributions (each a component and a `customrun.plugins` module).",
        "",
    ]
    counts = sorted({key.split("|")[1] for key in section["seconds"]}, key=int)
    lines += [f"| command | {' | '.join(f'{c} plugins' for c in counts)} |", "|---|" + "---:|" * len(counts)]
    for name in dict.fromkeys(key.split("|")[0] for key in section["seconds"]):
        cells = []
        for count in counts:
            t = section["seconds"].get(f"{name}|{count}")
            cells.append(f"{t['median']:.3f} ({t['min']:.3f}-{t['max']:.3f})" if t else "")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round of everything (smoke test)")
    parser.add_argument("--output-dir", type=Path, help="default: results/ (results/quick/ with --quick)")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated, of {','.join(SECTIONS)}"
    )
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    output = args.output_dir or HERE / "results" / ("quick" if args.quick else "")
    start, load_before = time.perf_counter(), machine.load_average()
    peers = peers_available()
    results: dict[str, Any] = {"environment": environment(), "settings": dataclasses.asdict(settings)}
    results["peers_skipped"] = {name: why for name, why in peers.items() if why}
    with tempfile.TemporaryDirectory(prefix="customrun-bench-") as scratch:
        children = Children(Path(scratch))
        runners: dict[str, Callable[[], dict]] = {
            "w1": lambda: bench_training(children, settings, "w1", peers),
            "w2": lambda: bench_training(children, settings, "w2", peers),
            "dispatch": lambda: bench_dispatch(children, settings),
            "startup": lambda: bench_startup(children, settings),
            "lars": lambda: bench_lars(children, settings),
        }
        for section in sections:
            progress(f"{section}: starting (load average {machine.load_average()})")
            results[section] = runners[section]()
    command = "python benchmarks/run.py" + (" --quick" if args.quick else "")
    command += "" if sections == list(SECTIONS) else f" --only {','.join(sections)}"
    results["run"] = {
        "date": f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        "command": command,
        "wall_minutes": (time.perf_counter() - start) / 60,
        "load_before": load_before,
        "load_after": machine.load_average(),
    }
    results["goals"] = goals(results)
    text = markdown(results)
    if results["peers_skipped"]:
        text += "\n" + "\n".join(f"- skipped: {why}" for why in results["peers_skipped"].values()) + "\n"
    output.mkdir(parents=True, exist_ok=True)
    (output / "bench.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (output / "bench.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\nwritten: {output / 'bench.json'}, {output / 'bench.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
