"""ProfilerHook on the CPU: the trace files it writes are Chrome-format JSON (what chrome://tracing,
Perfetto and TensorBoard's profiler read) whose ProfilerStep spans are the profiled iterations."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from customrun_core.errors import ConfigError
from customrun_core.hooks.profiler import ProfilerHook
from customrun_core.runner import Runner
from customrun_core.testing import assert_resume_is_exact, tiny_config

ITER_LOOP = {"type": "IterBasedTrainLoop", "max_iters": 8, "val_interval": 8}


def profiler(**arguments: Any) -> dict[str, Any]:
    return {"type": "ProfilerHook", **arguments}


def steps(trace: dict[str, Any]) -> dict[int, tuple[float, float]]:
    """The ProfilerStep#N spans of a trace: N -> (start, end) in microseconds."""
    return {
        int(event["name"].split("#")[1]): (event["ts"], event["ts"] + event["dur"])
        for event in trace["traceEvents"]
        if event.get("name", "").startswith("ProfilerStep#")
    }


def ops_inside(trace: dict[str, Any], span: tuple[float, float]) -> set[str]:
    """The names of the aten operators that ran inside ``span``."""
    return {
        event["name"]
        for event in trace["traceEvents"]
        if event.get("name", "").startswith("aten::") and span[0] <= event.get("ts", -1) <= span[1]
    }


def test_profile_times_iterations_are_traced_into_the_work_dir(customrun_run: Any) -> None:
    result = customrun_run(custom_hooks=[profiler(by_epoch=False, profile_times=3)], train_cfg=ITER_LOOP)
    assert result.runner.iter == 8  # training went on after the window
    trace = json.loads((result.work_dir / "profiler_trace.json").read_text())
    spans = steps(trace)
    assert sorted(spans) == [0, 1, 2]
    for span in spans.values():  # each iteration's forward and backward ran inside its span
        assert {"aten::addmm", "aten::mm"} <= ops_inside(trace, span)
    assert not list(result.work_dir.glob(".partial.*"))


def test_by_epoch_traces_the_first_epoch(customrun_run: Any) -> None:
    result = customrun_run(
        custom_hooks=[profiler()],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        train_dataloader={"batch_size": 256, "dataset": {"type": "DigitsDataset", "split": "train"}},
    )
    spans = steps(json.loads((result.work_dir / "profiler_trace.json").read_text()))
    assert sorted(spans) == list(range(len(result.runner.train_dataloader)))  # epoch 1 only: 0..5


def test_a_schedule_is_stepped_every_iteration(customrun_run: Any) -> None:
    """MMEngine never steps a profiler that has a schedule, so its schedule records nothing; here
    wait 1, warmup 1, active 2 records torch's steps 2 and 3 of the 5 profiled iterations."""
    hook = profiler(
        by_epoch=False, profile_times=5, schedule={"wait": 1, "warmup": 1, "active": 2, "repeat": 1}
    )
    result = customrun_run(custom_hooks=[hook], train_cfg=ITER_LOOP)
    assert sorted(steps(json.loads((result.work_dir / "profiler_trace.json").read_text()))) == [2, 3]


def test_json_trace_path_is_inside_the_work_dir_and_may_be_gzipped(customrun_run: Any) -> None:
    hook = profiler(by_epoch=False, profile_times=2, json_trace_path="traces/run.json.gz")
    result = customrun_run(custom_hooks=[hook], train_cfg=ITER_LOOP)
    with gzip.open(result.work_dir / "traces" / "run.json.gz", "rt") as file:
        assert sorted(steps(json.load(file))) == [0, 1]
    assert not (result.work_dir / "profiler_trace.json").exists()


def test_tb_trace_writes_tensorboard_profiler_files(customrun_run: Any) -> None:
    hook = profiler(
        by_epoch=False, profile_times=2, on_trace_ready={"type": "tb_trace", "worker_name": "rank0"}
    )
    result = customrun_run(custom_hooks=[hook], train_cfg=ITER_LOOP)
    (trace_file,) = (result.work_dir / "tf_tracing_logs").glob("rank0.*.pt.trace.json")
    assert sorted(steps(json.loads(trace_file.read_text()))) == [0, 1]
    assert not (result.work_dir / "profiler_trace.json").exists()  # on_trace_ready took the trace


def test_log_trace_logs_the_operator_table(customrun_run: Any) -> None:
    hook = profiler(by_epoch=False, profile_times=1, on_trace_ready={"type": "log_trace", "row_limit": 5})
    result = customrun_run(custom_hooks=[hook], train_cfg=ITER_LOOP)
    log = (result.work_dir / "run.log").read_text()
    assert "Self CPU time total" in log and "aten::" in log


def test_a_resumed_run_profiles_its_own_first_iterations_and_stays_exact(tmp_path: Path) -> None:
    config = tiny_config(
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 12, "val_interval": 6},
        custom_hooks=[profiler(by_epoch=False, profile_times=2)],
        randomness={"seed": 3, "deterministic": True},
    )
    assert assert_resume_is_exact(config, tmp_path, every=5) == [5, 10]
    assert sorted(steps(json.loads((tmp_path / "from_5" / "profiler_trace.json").read_text()))) == [5, 6]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"profile_times": 0}, "custom_hooks[0].profile_times: expected an integer >= 1, got 0"),
        ({"profile_times": 2}, "custom_hooks[0].profile_times: profiling 2 epochs is refused, as MMEngine"),
        ({"activity_with_cpu": False}, "custom_hooks[0].activity_with_cpu: nothing to profile"),
        ({"schedule": {"wiat": 1}}, "custom_hooks[0].schedule.wiat: unknown argument (expected one of wait,"),
        (
            {"schedule": {"wait": -1}},
            "custom_hooks[0].schedule.wait: expected an integer >= 0, got integer -1",
        ),
        ({"on_trace_ready": {"type": "tb"}}, "custom_hooks[0].on_trace_ready.type: expected 'log_trace' or"),
        ({"on_trace_ready": {"type": "tb_trace", "dir": "x"}}, "custom_hooks[0].on_trace_ready.dir: unknown"),
        ({"with_modules": True}, "custom_hooks[0].with_modules"),
    ],
)
def test_bad_arguments_are_one_line(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Runner.from_config(tiny_config(custom_hooks=[profiler(**arguments)]))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_more_profile_times_than_iterations_is_one_line_and_exit_2(
    customrun_cli: Any, customrun_config: Any
) -> None:
    config = customrun_config(
        custom_hooks=[profiler(by_epoch=False, profile_times=9)],
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 8},
    )
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert result.stderr_lines[-1].endswith(
        "custom_hooks[0].profile_times: expected at most the run's 8 iterations, got 9"
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only warning")
def test_cuda_activity_without_cuda_is_one_warning(customrun_run: Any) -> None:
    hook = profiler(by_epoch=False, profile_times=1, activity_with_cuda=True)
    result = customrun_run(custom_hooks=[hook], train_cfg=ITER_LOOP)
    log = (result.work_dir / "run.log").read_text().splitlines()
    assert sum("activity_with_cuda = true but CUDA is not available" in line for line in log) == 1
    assert sorted(steps(json.loads((result.work_dir / "profiler_trace.json").read_text()))) == [0]


def test_only_rank_0_profiles() -> None:
    hook = ProfilerHook()
    assert hook.wanted(0) and not hook.wanted(1)
