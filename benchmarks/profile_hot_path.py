"""Where customrun's per-iteration time goes: W1 under cProfile, next to the hand-written loop.

Trains W1 (the MLP on the digits, one thread) in this process, once through ``Runner.train()``
with the default or trimmed hooks and once as the hand-written loop, each under cProfile from the
first forward call of the third epoch to that of the last (steady state: start-up is left out),
and prints per iteration: the total, the functions of customrun_core with their own and inclusive
time, and the calls that customrun makes more often than the raw loop (compared by call count).
cProfile slows Python code down more than C code, so the shares are indicative; ``run.py``'s
figures are the unprofiled truth.

``--ablate`` measures instead, without a profiler, one training step on a fixed batch built up from
the hand-written step to customrun's ``run_iter`` one piece at a time (the pieces take turns in
every round): the differences say what each piece costs inside a real step, where small tensor
operations cost several times what they cost in a micro-benchmark of their own.

    python benchmarks/profile_hot_path.py [--hooks default|trimmed] [--epochs 20] [--top 25]
    python benchmarks/profile_hot_path.py --ablate [--hooks default|trimmed] [--rounds 31]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import run
import torch
import torch.nn.functional as F
import workloads
from machine import interleaved

from customrun_core import Runner
from customrun_core.models.base import parse_losses

Stats = dict[tuple[str, int, str], tuple[int, int, float, float, Any]]


PER_EPOCH = 45  # W1's iterations per epoch
WARM_EPOCHS = 2


class ProfilerSwitch:
    """Stands in for ``workloads.PROBE``: the models' forward calls switch the profiler on at the
    first forward of epoch ``WARM_EPOCHS`` and off at that of the last epoch."""

    def __init__(self, epochs: int) -> None:
        self.profiler = cProfile.Profile()
        self.start, self.stop = WARM_EPOCHS * PER_EPOCH, (epochs - 1) * PER_EPOCH
        self.calls = 0

    def tick(self) -> None:
        if self.calls == self.start:
            self.profiler.enable()
        elif self.calls == self.stop:
            self.profiler.disable()
        self.calls += 1

    def stats(self) -> tuple[pstats.Stats, int]:
        return pstats.Stats(self.profiler), self.stop - self.start


def profile_customrun(hooks: str, epochs: int, work_dir: Path) -> tuple[pstats.Stats, int]:
    table = run.HOOKS_DEFAULT if hooks == "default" else run.HOOKS_TRIMMED
    config = run.customrun_config("w1", epochs, table, run.W2_SAMPLES)
    config["work_dir"] = str(work_dir)
    workloads.PROBE = switch = ProfilerSwitch(epochs)  # type: ignore[assignment]
    Runner.from_config(config).train()
    return switch.stats()


def profile_raw(epochs: int, work_dir: Path) -> tuple[pstats.Stats, int]:
    workloads.PROBE = switch = ProfilerSwitch(epochs)  # type: ignore[assignment]
    workloads.run_raw("w1", epochs, 0, work_dir)
    return switch.stats()


def label(key: tuple[str, int, str]) -> str:
    path, line, name = key
    if path == "~":
        return name
    for marker in ("customrun_core/", "torch/", "benchmarks/"):
        if marker in path:
            return f"{marker}{path.split(marker, 1)[1]}:{line} {name}"
    return f"{Path(path).name}:{line} {name}"


def ablation_steps(hooks: str, work_dir: Path) -> dict[str, Callable[[], Any]]:
    """From the hand-written step to customrun's ``run_iter``, one piece more each (same model,
    same optimizer, same batch)."""
    table = run.HOOKS_DEFAULT if hooks == "default" else run.HOOKS_TRIMMED
    config = run.customrun_config("w1", 1000, table, run.W2_SAMPLES)
    config["work_dir"] = str(work_dir)
    runner = Runner.from_config(config)
    runner._build_training()  # what train() does before its loop (private; this is a probe)
    runner.optim_wrapper.initialize_count_status(runner.model, 0, runner.train_loop.max_iters)
    model, wrapper, loop = runner.model, runner.optim_wrapper, runner.train_loop
    optimizer = wrapper.optimizer
    batch = next(iter(runner.train_dataloader))
    inputs, targets = batch

    def raw() -> None:
        loss = F.cross_entropy(model.backbone(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def classifier() -> None:  # + ClassifierModel.forward (its loss module, mode="loss", a dict)
        loss = model(inputs, targets, mode="loss")["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def parsed() -> None:  # + parse_losses
        loss, _ = parse_losses(model(inputs, targets, mode="loss"))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def finite_check() -> None:  # + OptimWrapper's finiteness check of the loss
        loss, _ = parse_losses(model(inputs, targets, mode="loss"))
        bool(torch.isfinite(loss.detach()).all())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def train_step() -> None:  # BaseModel.train_step: + unpack_batch, optim_context, update_params
        model.train_step(batch, wrapper)

    def run_iter() -> None:  # TrainLoop.run_iter: + to_device, the two hook points, stop_requested
        loop.run_iter(1, batch)  # batch_idx 1: no logging line, as on 44 of 45 iterations

    return {
        "hand-written step": raw,
        "+ ClassifierModel forward": classifier,
        "+ parse_losses": parsed,
        "+ isfinite(loss).all() check": finite_check,
        "BaseModel.train_step": train_step,
        f"TrainLoop.run_iter ({hooks} hooks)": run_iter,
    }


def ablate(hooks: str, rounds: int, steps_per_round: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        steps = ablation_steps(hooks, Path(folder))
        names = list(steps)
        times = {
            name: [t * 1e6 for t in values]
            for name, values in interleaved(steps, rounds, steps_per_round).items()
        }
    print(f"one step on a fixed batch, us: median (fastest) of {rounds} rounds of {steps_per_round} steps")
    previous = base = statistics.median(times[names[0]])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{median:8.1f} ({min(values):6.1f})  {median - previous:+7.1f} {median - base:+7.1f}  {name}")
        previous = median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hooks", choices=["default", "trimmed"], default="default")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--ablate", action="store_true", help="unprofiled step-by-step costs instead")
    parser.add_argument("--rounds", type=int, default=31)
    args = parser.parse_args()
    workloads.one_thread()
    if args.ablate:
        ablate(args.hooks, args.rounds, steps_per_round=200)
        return
    with tempfile.TemporaryDirectory() as folder:
        custom, iters = profile_customrun(args.hooks, args.epochs, Path(folder) / "customrun")
        raw, raw_iters = profile_raw(args.epochs, Path(folder))
    custom_stats: Stats = custom.stats  # type: ignore[attr-defined]
    raw_stats: Stats = raw.stats  # type: ignore[attr-defined]
    total = custom.total_tt / iters * 1e6  # type: ignore[attr-defined]
    raw_total = raw.total_tt / raw_iters * 1e6  # type: ignore[attr-defined]
    print(f"under cProfile: customrun ({args.hooks} hooks) {total:.0f} us/iteration, raw {raw_total:.0f}")
    print("\ncustomrun_core functions by own time (us per iteration, under cProfile):")
    print(f"{'own':>8} {'incl.':>8} {'calls/it':>8}  function")
    ours = [(key, value) for key, value in custom_stats.items() if "customrun_core" in key[0]]
    for key, (_, calls, own, cumulative, _) in sorted(ours, key=lambda kv: -kv[1][2])[: args.top]:
        print(f"{own / iters * 1e6:8.1f} {cumulative / iters * 1e6:8.1f} {calls / iters:8.2f}  {label(key)}")
    print("\ncalls customrun makes more often than the raw loop (per iteration; own time, us):")
    raw_calls = {label(key): value[1] / raw_iters for key, value in raw_stats.items()}
    extra = []
    for key, (_, calls, own, _, _) in custom_stats.items():
        name = label(key)
        more = calls / iters - raw_calls.get(name, 0.0)
        if more > 0.5 and "customrun_core" not in key[0]:
            extra.append((own / iters * 1e6 * more / (calls / iters), more, name))
    for own, more, name in sorted(extra, reverse=True)[: args.top]:
        print(f"{own:8.1f} {more:8.2f}  {name}")


if __name__ == "__main__":
    main()
