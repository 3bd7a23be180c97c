"""Throughput on a GPU: the hand-written PyTorch loop against ``customrun train``, side by side.

    python benchmarks/cuda/throughput.py --out DIR             # on a CUDA GPU: 3 rounds, about 2 minutes
    python benchmarks/cuda/throughput.py --dry-run --out DIR   # on the CPU, tiny sizes, 1 round

Both contenders train the ResNet-18 of ``gpu_workload.py`` on images gathered from a bank on the
device (data costs nothing), with SGD (lr 0.1, momentum 0.9, weight decay 1e-4), in two precisions:
float32 with TF32, and bfloat16 autocast (customrun: ``AmpOptimWrapper`` with ``dtype =
"bfloat16"``). Each run is a process of its own; in every round each precision runs both
contenders, in an order that alternates from round to round. Each process measures itself the
same way (``gpu_workload.WindowMeter``): images/s over a window after a warm-up, the peak GPU
memory, and the host-device synchronisations of every window iteration.

Writes DIR/throughput.json (every figure, the environment) and prints a Markdown table. Exit
status 0 when everything ran (missed goals are reported, not failures), 1 when a contender
crashed (its stderr tail is shown), 2 without a GPU unless ``--dry-run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tomli_w

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "gpu_workload.py"
PRECISIONS = ("float32", "bfloat16")
CONTENDERS = ("raw", "customrun")
SPEED_GOAL = 0.98  # customrun's images/s at least 98 % of the raw loop's
TAIL_LINES = 30


@dataclasses.dataclass(frozen=True)
class Plan:
    """Sizes and repetitions of one benchmark run."""

    device: str
    image_size: int
    batch_size: int
    bank_size: int
    warmup: int
    window: int
    rounds: int
    child_timeout_s: int


GPU_PLAN = Plan("cuda", 224, 256, 1024, warmup=15, window=60, rounds=3, child_timeout_s=180)
CPU_PLAN = Plan("cpu", 32, 8, 32, warmup=2, window=4, rounds=1, child_timeout_s=120)


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def customrun_config(plan: Plan, precision: str) -> dict[str, Any]:
    """The workload as a customrun config: default hooks, plus the probe that measures."""
    optimizer = {"type": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}
    wrapper: dict[str, Any] = {"type": "OptimWrapper", "optimizer": optimizer}
    if precision == "bfloat16":
        wrapper = {"type": "AmpOptimWrapper", "dtype": "bfloat16", "optimizer": optimizer}
    return {
        "custom_imports": {"imports": ["gpu_workload"], "allow_failed_imports": False},
        "device": plan.device,
        "model": {
            "type": "GpuResNet",
            "bank_size": plan.bank_size,
            "image_size": plan.image_size,
            "bank_device": plan.device,
        },
        "train_dataloader": {
            "batch_size": plan.batch_size,
            "shuffle": False,
            "num_workers": 0,
            "pin_memory": False,  # as the raw loop: a few hundred indices need no pinned copy
            "dataset": {"type": "BankIndices", "size": plan.bank_size},
        },
        "train_cfg": {"type": "IterBasedTrainLoop", "max_iters": plan.warmup + plan.window},
        "optim_wrapper": wrapper,
        "custom_hooks": [{"type": "ThroughputProbe", "warmup": plan.warmup, "window": plan.window}],
        "randomness": {"seed": 0},
    }


def command(plan: Plan, contender: str, precision: str, workdir: Path) -> tuple[list[str], Path]:
    """The child's argv and the file its result lands in."""
    if contender == "raw":
        out = workdir / "throughput.json"
        sizes = {"image-size": plan.image_size, "batch-size": plan.batch_size, "bank-size": plan.bank_size,
                 "warmup": plan.warmup, "window": plan.window}  # fmt: skip
        options = [item for name, value in sizes.items() for item in (f"--{name}", str(value))]
        argv = [sys.executable, str(WORKLOAD), "--device", plan.device, "--precision", precision, *options]
        return [*argv, "--out", str(out)], out
    config = workdir / "config.toml"
    config.write_text(tomli_w.dumps(customrun_config(plan, precision)), "utf-8")
    work = workdir / "work"
    argv = [sys.executable, "-m", "customrun_core", "train", str(config), "--work-dir", str(work)]
    return argv, work / "throughput.json"


def run_child(plan: Plan, contender: str, precision: str, workdir: Path) -> dict[str, Any]:
    """Run one measured process; its result, or ``{"error": ..., "stderr_tail": ...}``."""
    workdir.mkdir(parents=True)
    argv, out = command(plan, contender, precision, workdir)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"  # a crashed child's stderr tail is complete
    stdout, stderr = workdir / "stdout.txt", workdir / "stderr.txt"
    start = time.perf_counter()
    with open(stdout, "wb") as out_file, open(stderr, "wb") as err_file:
        try:
            code = subprocess.run(
                argv,
                check=False,
                cwd=workdir,
                env=env,
                stdout=out_file,
                stderr=err_file,
                timeout=plan.child_timeout_s,
            ).returncode
        except subprocess.TimeoutExpired:
            code = None
    wall = time.perf_counter() - start
    if code == 0 and out.exists():
        return {**json.loads(out.read_text("utf-8")), "precision": precision, "wall_s": wall}
    reason = (
        f"timed out after {plan.child_timeout_s} s"
        if code is None
        else f"exit status {code}"
        if code
        else "exited 0 without writing a result"
    )
    tail = stderr.read_text("utf-8", errors="replace").splitlines()[-TAIL_LINES:]
    if not tail:  # customrun reports some errors on stdout
        tail = stdout.read_text("utf-8", errors="replace").splitlines()[-TAIL_LINES:]
    return {"error": reason, "argv": argv, "stderr_tail": "\n".join(tail), "wall_s": wall}


def describe_run(run: dict[str, Any]) -> str:
    syncs = run["sync_counts"]
    sync_text = f", syncs/iter median {statistics.median(syncs):g} max {max(syncs)}" if syncs else ""
    memory = f", peak {run['peak_memory_mb']:.0f} MB" if run["peak_memory_mb"] is not None else ""
    return f"{run['images_per_s']:.1f} images/s{sync_text}{memory} (process {run['wall_s']:.1f} s)"


def summarise(runs: list[dict[str, Any]], cuda: bool) -> dict[str, Any]:
    """Per precision and contender: medians over rounds, syncs pooled over the windows' iterations."""
    summary: dict[str, Any] = {}
    for precision in PRECISIONS:
        entry: dict[str, Any] = {}
        for contender in CONTENDERS:
            mine = [r for r in runs if r["precision"] == precision and r["contender"] == contender]
            if not mine:
                continue
            speeds = [r["images_per_s"] for r in mine]
            counts = [c for r in mine for c in (r["sync_counts"] or [])]
            memory = [r["peak_memory_mb"] for r in mine if r["peak_memory_mb"] is not None]
            entry[contender] = {
                "images_per_s": statistics.median(speeds),
                "images_per_s_min": min(speeds),
                "images_per_s_max": max(speeds),
                "rounds": len(mine),
                "peak_memory_mb": statistics.median(memory) if memory else None,
                "syncs_median": statistics.median(counts) if cuda and counts else None,
                "syncs_max": max(counts) if cuda and counts else None,
                "iters_with_syncs": sum(c > 0 for c in counts) if cuda else None,
                "iters": len(counts) if cuda else None,
            }
        if "raw" in entry and "customrun" in entry:
            entry["ratio"] = entry["customrun"]["images_per_s"] / entry["raw"]["images_per_s"]
            raw_runs, our_runs = (_by_round(runs, precision, k) for k in CONTENDERS)
            rounds = sorted(raw_runs.keys() & our_runs.keys())  # the rounds both finished
            entry["ratio_by_round"] = [
                our_runs[r]["images_per_s"] / raw_runs[r]["images_per_s"] for r in rounds
            ]
            # Paired by round and by iteration of the window: the same place in the same schedule
            # (the logger's interval, the deferred loss checks) of two processes run side by side.
            diffs = [
                ours - theirs
                for r in rounds
                if cuda
                for theirs, ours in zip(raw_runs[r]["sync_counts"], our_runs[r]["sync_counts"], strict=True)
            ]
            entry["extra_syncs_median"] = statistics.median(diffs) if diffs else None
            entry["extra_syncs_mean"] = statistics.fmean(diffs) if diffs else None
        summary[precision] = entry
    return summary


def _by_round(runs: list[dict[str, Any]], precision: str, contender: str) -> dict[int, dict[str, Any]]:
    return {r["round"]: r for r in runs if r["precision"] == precision and r["contender"] == contender}


def goals(summary: dict[str, Any], cuda: bool) -> list[dict[str, Any]]:
    """The three goals, each with its verdict (None: not evaluated) and the figures behind it."""
    if not cuda:
        texts = ("customrun within 2 % of the raw loop's images/s", "zero extra syncs per iteration (median)",
                 "bfloat16 faster than float32 (raw loop)")  # fmt: skip
        return [{"goal": t, "met": None, "detail": "not evaluated (CPU)"} for t in texts]
    ratios = {p: summary[p]["ratio"] for p in PRECISIONS}
    extras = {p: summary[p]["extra_syncs_median"] for p in PRECISIONS}
    raw = {p: summary[p]["raw"]["images_per_s"] for p in PRECISIONS}
    return [
        {
            "goal": "customrun within 2 % of the raw loop's images/s",
            "met": all(r >= SPEED_GOAL for r in ratios.values()),
            "detail": ", ".join(f"{p} {r:.3f}x" for p, r in ratios.items()),
        },
        {
            "goal": "zero extra syncs per iteration (median), default hooks",
            "met": all(e <= 0 for e in extras.values()),
            "detail": ", ".join(f"{p} {e:g}" for p, e in extras.items()),
        },
        {
            "goal": "bfloat16 faster than float32 (raw loop)",
            "met": raw["bfloat16"] > raw["float32"],
            "detail": f"{raw['bfloat16'] / raw['float32']:.2f}x",
        },
    ]


def markdown(results: dict[str, Any]) -> str:
    """The report: one row per precision and contender, then the goals."""
    summary, cuda, plan = results["summary"], results["cuda"], results["plan"]
    env = results["environment"]
    lines = [
        f"## Throughput: hand-written loop vs customrun ({'GPU' if cuda else 'CPU dry run'})",
        "",
        f"- {env.get('device')}; torch {env.get('torch')}, CUDA {env.get('cuda')}, cuDNN {env.get('cudnn')}, "
        f"python {env.get('python')}",
        f"- ResNet-18, {plan['image_size']}x{plan['image_size']} images, batch {plan['batch_size']}, "
        f"bank of {plan['bank_size']} on the device; {plan['warmup']} warm-up + {plan['window']} measured "
        f"iterations per process; {plan['rounds']} round(s), median over rounds",
        "",
        "| precision | contender | images/s (min-max) | vs raw | peak MB | syncs/iter median | max "
        "| iters with syncs | extra syncs/iter median (mean) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for precision in PRECISIONS:
        entry = summary.get(precision, {})
        for contender in CONTENDERS:
            row = entry.get(contender)
            if row is None:
                continue
            ours = contender == "customrun"
            ratio = f"{entry['ratio']:.3f}x" if ours and "ratio" in entry else ""
            extra = ""
            if ours and entry.get("extra_syncs_median") is not None:
                extra = f"{entry['extra_syncs_median']:g} ({entry['extra_syncs_mean']:.2f})"
            elif ours:
                extra = "n/a"
            syncs = (
                [
                    f"{row['syncs_median']:g}",
                    str(row["syncs_max"]),
                    f"{row['iters_with_syncs']}/{row['iters']}",
                ]
                if row["syncs_median"] is not None
                else ["n/a"] * 3
            )
            memory = f"{row['peak_memory_mb']:.0f}" if row["peak_memory_mb"] is not None else "n/a"
            speed = f"{row['images_per_s']:.1f} ({row['images_per_s_min']:.1f}-{row['images_per_s_max']:.1f})"
            lines.append(
                f"| {precision} | {contender} | {speed} | {ratio} | {memory} | {' | '.join(syncs)} | {extra} |"
            )
    lines += ["", "Goals:" if results["goals"] else "Goals: not evaluated (a contender crashed)"]
    for goal in results["goals"]:
        verdict = {True: "met", False: "MISSED", None: "not evaluated (CPU)"}[goal["met"]]
        detail = "" if goal["met"] is None else f" ({goal['detail']})"
        lines.append(f"- {goal['goal']}: **{verdict}**{detail}")
    lines += [f"- note: {note}" for note in results["notes"]]
    if results.get("crash"):
        crash = results["crash"]
        lines += ["", f"**{crash['label']} crashed** ({crash['error']}); stderr tail:", "", "```",
                  crash["stderr_tail"], "```"]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="on the CPU, tiny sizes, one round")
    parser.add_argument("--out", type=Path, required=True, help="where throughput.json goes")
    args = parser.parse_args(argv)
    import torch  # here, not at the top: --help needs no torch

    if not args.dry_run and not torch.cuda.is_available():
        print("throughput.py: torch sees no CUDA device; use --dry-run to run on the CPU", file=sys.stderr)
        return 2
    plan = CPU_PLAN if args.dry_run else GPU_PLAN
    cuda = plan.device == "cuda"
    args.out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="customrun-throughput-"))
    runs: list[dict[str, Any]] = []
    crash: dict[str, Any] | None = None
    started = time.perf_counter()
    progress(f"{'GPU' if cuda else 'CPU dry run'}: {plan.rounds} round(s) x {len(PRECISIONS)} precisions "
             f"x {len(CONTENDERS)} contenders, scratch {scratch}")  # fmt: skip
    try:
        for round_index in range(plan.rounds):
            order = CONTENDERS if round_index % 2 == 0 else CONTENDERS[::-1]  # who goes first alternates
            for precision in PRECISIONS:
                for contender in order:
                    label = f"round {round_index + 1}/{plan.rounds} {precision} {contender}"
                    workdir = scratch / f"r{round_index}-{precision}-{contender}"
                    run = run_child(plan, contender, precision, workdir)
                    if "error" in run:
                        crash = {"label": label, **run}
                        progress(f"{label}: CRASHED ({run['error']})\n{run['stderr_tail']}")
                        break
                    runs.append({**run, "round": round_index, "position": order.index(contender)})
                    progress(f"{label}: {describe_run(run)}")
                if crash:
                    break
            if crash:
                break
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # checkpoints of the customrun runs, configs, logs
    notes = [f"processes took {time.perf_counter() - started:.0f} s in all"]
    if not cuda:
        notes.append("bfloat16 on the CPU: CPU autocast (AmpOptimWrapper accepts bfloat16 on the CPU)")
        notes.append("syncs and GPU memory are not measured on the CPU (no CUDA sync debug mode)")
    summary = summarise(runs, cuda)
    complete = crash is None
    results: dict[str, Any] = {
        "cuda": cuda,
        "plan": dataclasses.asdict(plan),
        "environment": {**(runs[0]["environment"] if runs else {}), "platform": platform.platform()},
        "summary": summary,
        "goals": goals(summary, cuda) if complete else [],
        "notes": notes,
        "runs": runs,
        "crash": crash,
    }
    (args.out / "throughput.json").write_text(json.dumps(results, indent=1), "utf-8")
    print(markdown(results))
    progress(f"wrote {args.out / 'throughput.json'}")
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
