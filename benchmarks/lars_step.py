"""Step time of LARS's multi-tensor path against torch's SGD (foreach) and the per-parameter reference.

The parameters have the shapes of torchvision's ResNet-50 (161 tensors, 25,557,032 values, listed
here from the architecture: torchvision is not needed), with random gradients. Two layouts:

- ``one group``: every tensor in one parameter group;
- ``SimCLR groups``: one group per tensor, as ``paramwise_cfg`` makes them, with SimCLR's
  custom keys (``bn``, ``bias``, ``downsample.1``: ``decay_mult = 0``, ``lars_exclude = true``).

The optimizers of both layouts step side by side: each round times one step of each, in a rotated
order, after warm-up rounds (which also create the momentum buffers); the tables give the median and
the fastest wall-clock time of the rounds and the median CPU time (this process, all threads). The
ratios are of median wall-clock times.

Usage: ``python benchmarks/lars_step.py [--rounds N] [--warmup N] [--threads N] [--output FILE] [--json FILE]``
(``benchmarks/run.py`` runs it on one thread as part of the suite).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from customrun_lars import LARS
from machine import cpu_name, load_average

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "plugins" / "customrun-lars" / "tests" / "reference_lars.py"
SIMCLR_KEYS = ("bn", "bias", "downsample.1")
LR, MOMENTUM, WEIGHT_DECAY = 0.3, 0.9, 1e-6


def resnet50_shapes() -> list[tuple[str, tuple[int, ...]]]:
    """Names and shapes of torchvision's ``resnet50()`` parameters, in ``named_parameters`` order."""
    shapes: list[tuple[str, tuple[int, ...]]] = [("conv1.weight", (64, 3, 7, 7)), *_bn("bn1", 64)]
    inplanes = 64
    for layer, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True), start=1):
        for block in range(blocks):
            prefix = f"layer{layer}.{block}"
            shapes += [(f"{prefix}.conv1.weight", (planes, inplanes, 1, 1)), *_bn(f"{prefix}.bn1", planes)]
            shapes += [(f"{prefix}.conv2.weight", (planes, planes, 3, 3)), *_bn(f"{prefix}.bn2", planes)]
            shapes += [
                (f"{prefix}.conv3.weight", (planes * 4, planes, 1, 1)),
                *_bn(f"{prefix}.bn3", planes * 4),
            ]
            if block == 0:  # stride or width change: a projection shortcut
                shapes += [(f"{prefix}.downsample.0.weight", (planes * 4, inplanes, 1, 1))]
                shapes += _bn(f"{prefix}.downsample.1", planes * 4)
            inplanes = planes * 4
    return [*shapes, ("fc.weight", (1000, 2048)), ("fc.bias", (1000,))]


def _bn(name: str, channels: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{name}.weight", (channels,)), (f"{name}.bias", (channels,))]


def make_parameters() -> list[tuple[str, torch.Tensor]]:
    """ResNet-50's parameters with random values and random gradients."""
    generator = torch.Generator().manual_seed(0)
    named = []
    for name, shape in resnet50_shapes():
        param = torch.randn(shape, generator=generator).mul_(0.05).requires_grad_()
        param.grad = torch.randn(shape, generator=generator).mul_(0.01)
        named.append((name, param))
    return named


def simclr_groups(named: list[tuple[str, torch.Tensor]], lars: bool) -> list[dict[str, Any]]:
    """One group per tensor; SimCLR's custom keys exclude norms and biases (no decay)."""
    groups: list[dict[str, Any]] = []
    for name, param in named:
        if any(key in name for key in SIMCLR_KEYS):
            groups.append(
                {"params": [param], "weight_decay": 0.0, **({"lars_exclude": True} if lars else {})}
            )
        else:
            groups.append({"params": [param]})
    return groups


def make_optimizers(named: list[tuple[str, torch.Tensor]], grouped: bool) -> dict[str, torch.optim.Optimizer]:
    """The contenders, all over the same tensors (each keeps its own momentum buffers)."""
    reference_cls = _load_reference()
    params = [p for _, p in named]

    def groups(lars: bool) -> Any:
        return simclr_groups(named, lars) if grouped else params

    kwargs = {"lr": LR, "momentum": MOMENTUM, "weight_decay": WEIGHT_DECAY}
    return {
        "LARS (multi-tensor)": LARS(groups(lars=True), **kwargs),
        "SGD foreach": torch.optim.SGD(groups(lars=False), foreach=True, **kwargs),
        "SGD foreach, no weight decay": torch.optim.SGD(
            groups(lars=False), lr=LR, momentum=MOMENTUM, foreach=True
        ),
        "LARS reference (per parameter)": reference_cls(groups(lars=True), **kwargs),
    }


def _load_reference() -> Any:
    spec = importlib.util.spec_from_file_location("customrun_lars_reference", REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ReferenceLARS


Timing = tuple[float, float, float]  # median wall, fastest wall, median CPU (seconds)


def time_interleaved(steps: dict[str, Callable[[], Any]], rounds: int, warmup: int) -> dict[str, Timing]:
    """Median and fastest wall-clock time and median CPU time (this process, all threads) per call
    of each function, all called once per round in a rotated order. Other processes slow some
    rounds down: the fastest round and the CPU time are less disturbed by them than the median."""
    names = list(steps)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for round_index in range(warmup + rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = time.perf_counter(), time.process_time()
            steps[name]()
            elapsed = (time.perf_counter() - wall, time.process_time() - cpu)
            if round_index >= warmup:
                times[name].append(elapsed)
    return {
        name: (
            statistics.median(w for w, _ in values),
            min(w for w, _ in values),
            statistics.median(c for _, c in values),
        )
        for name, values in times.items()
    }


LAYOUTS = {"one group": False, "SimCLR groups (one tensor per group)": True}


def benchmark(rounds: int, warmup: int) -> dict[str, dict[str, Timing]]:
    """Times by layout and optimizer; both layouts' optimizers take turns in the same rounds."""
    named = make_parameters()
    steps = {
        (layout, name): optimizer.step
        for layout, grouped in LAYOUTS.items()
        for name, optimizer in make_optimizers(named, grouped).items()
    }
    timed = time_interleaved(
        {f"{layout}|{name}": step for (layout, name), step in steps.items()}, rounds, warmup
    )
    results: dict[str, dict[str, Timing]] = {layout: {} for layout in LAYOUTS}
    for key, value in timed.items():
        layout, name = key.split("|")
        results[layout][name] = value
    return results


def report(
    results: dict[str, dict[str, Timing]],
    rounds: int,
    warmup: int,
    load: str,
    command: str = "python benchmarks/lars_step.py",
) -> str:
    """The results as Markdown: machine, versions, a table per layout and the two ratios."""
    count = sum(torch.Size(shape).numel() for _, shape in resnet50_shapes())
    lines = [
        "# LARS step time: multi-tensor path vs SGD (foreach) vs per-parameter reference",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        f"- machine: {cpu_name()}, {torch.get_num_threads()} torch threads, {platform.platform()}",
        f"- python {platform.python_version()}, torch {torch.__version__}, device cpu, float32",
        f"- parameters: ResNet-50 shapes, {len(resnet50_shapes())} tensors, {count:,} values, random grads",
        f"- lr {LR}, momentum {MOMENTUM}, weight_decay {WEIGHT_DECAY} (SimCLR); all eight optimizers take "
        f"turns in each round; median of {rounds} rounds after {warmup} warm-up rounds",
        f"- load average (1, 5, 15 min) before and after the run: {load} (other processes share the CPU)",
        f"- command: `{command}`",
        "",
    ]
    for layout, times in results.items():
        lines += [
            f"## {layout}",
            "",
            "| optimizer | wall, median (ms) | wall, fastest (ms) | CPU, median (ms) |",
        ]
        lines += ["|---|---:|---:|---:|"]
        lines += [
            f"| {name} | {t[0] * 1e3:.1f} | {t[1] * 1e3:.1f} | {t[2] * 1e3:.1f} |"
            for name, t in times.items()
        ]
        lines += ["", *_ratios(times), ""]
    return "\n".join(lines)


def _ratios(times: dict[str, Timing]) -> list[str]:
    lars, sgd = times["LARS (multi-tensor)"], times["SGD foreach"]
    plain, reference = times["SGD foreach, no weight decay"], times["LARS reference (per parameter)"]

    def ratio(a: Timing, b: Timing) -> str:
        return f"**{a[0] / b[0]:.2f}x** (fastest rounds {a[1] / b[1]:.2f}x, CPU {a[2] / b[2]:.2f}x)"

    def met(ok: bool) -> str:
        return "met" if ok else "**not met**"

    return [
        f"- LARS / SGD foreach: {ratio(lars, sgd)}; goal at most 1.5x: {met(lars[0] / sgd[0] <= 1.5)}",
        f"- LARS / SGD foreach without weight decay: {ratio(lars, plain)}",
        f"- reference / LARS: {ratio(reference, lars)}; goal at least 2x: {met(reference[0] / lars[0] >= 2)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "results" / "lars_step.md")
    parser.add_argument("--json", type=Path, help="also write the timings (seconds) as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    before = load_average()
    results = benchmark(args.rounds, args.warmup)
    command = "python benchmarks/lars_step.py" + (f" --threads {args.threads}" if args.threads else "")
    text = report(results, args.rounds, args.warmup, f"{before}; {load_average()}", command)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n", encoding="utf-8")
    if args.json:
        fields = ("wall_median_s", "wall_fastest_s", "cpu_median_s")
        timings = {
            layout: {name: dict(zip(fields, timing, strict=True)) for name, timing in times.items()}
            for layout, times in results.items()
        }
        record = {"threads": torch.get_num_threads(), "rounds": args.rounds, "warmup": args.warmup}
        args.json.write_text(json.dumps({**record, "timings": timings, "report": text}), encoding="utf-8")


if __name__ == "__main__":
    main()
