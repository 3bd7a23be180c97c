"""``build_param_schedulers``: default ends, ``convert_to_iter_based`` and config errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from customrun_core.errors import ComponentError, ConfigError
from customrun_core.optim import OptimWrapper
from customrun_core.schedulers import INF, LinearLR, MultiStepLR, StepLR
from customrun_core.schedulers.build import build_param_schedulers

MAX_EPOCHS, EPOCH_LENGTH = 4, 5
MAX_ITERS = MAX_EPOCHS * EPOCH_LENGTH


def make_wrapper() -> OptimWrapper:
    return OptimWrapper(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1))


def build(cfg: Any, wrapper: OptimWrapper | None = None, epoch_length: int = EPOCH_LENGTH) -> list[Any]:
    return build_param_schedulers(cfg, wrapper or make_wrapper(), epoch_length, MAX_EPOCHS, MAX_ITERS)


def lrs(wrapper: OptimWrapper, scheduler: Any, steps: int) -> list[float]:
    values = []
    for _ in range(steps):
        values.append(wrapper.param_groups[0]["lr"])
        scheduler.step()
    return values


@pytest.mark.parametrize(
    ("table", "end", "by_epoch"),
    [
        ({"type": "LinearLR"}, MAX_EPOCHS, True),
        ({"type": "LinearLR", "by_epoch": True}, MAX_EPOCHS, True),
        ({"type": "LinearLR", "by_epoch": False}, MAX_ITERS, False),
        ({"type": "LinearLR", "end": 3}, 3, True),
        ({"type": "LinearLR", "by_epoch": False, "end": 7}, 7, False),
        ({"type": "LinearLR", "convert_to_iter_based": True}, MAX_EPOCHS * EPOCH_LENGTH, False),
    ],
)
def test_end_defaults_to_the_end_of_training_in_the_schedulers_unit(
    table: dict, end: int, by_epoch: bool
) -> None:
    (scheduler,) = build([table])
    assert isinstance(scheduler, LinearLR)
    assert (scheduler.begin, scheduler.end, scheduler.by_epoch) == (0, end, by_epoch)


def test_a_single_table_and_an_array_keep_config_order() -> None:
    wrapper = make_wrapper()
    (single,) = build({"type": "StepLR", "step_size": 2}, wrapper)
    assert isinstance(single, StepLR)
    first, second = build([{"type": "LinearLR", "end": 2}, {"type": "MultiStepLR", "milestones": [3]}])
    assert isinstance(first, LinearLR)
    assert isinstance(second, MultiStepLR)
    assert build(None) == []


def test_schedulers_act_on_the_wrappers_param_groups() -> None:
    wrapper = make_wrapper()
    (scheduler,) = build([{"type": "ConstantLR", "factor": 0.5, "end": 3}], wrapper)
    assert scheduler.optimizer is wrapper
    assert lrs(wrapper, scheduler, 4) == [0.05, 0.05, 0.1, 0.1]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"type": "StepLR", "step_size": 2, "gamma": 0.5, "begin": 1, "end": 3},
            {"begin": 5, "end": 15, "step_size": 10},
        ),
        ({"type": "MultiStepLR", "milestones": [1, 3]}, {"begin": 0, "end": 20, "milestones": {5: 1, 15: 1}}),
        ({"type": "LinearLR", "begin": 1}, {"begin": 5, "end": 20}),
        ({"type": "ExponentialLR", "gamma": 0.9, "end": INF}, {"begin": 0, "end": INF}),
        ({"type": "LinearLR", "end": 0.5}, {"begin": 0, "end": 2}),  # [ran]: 0.5 * 5 truncated
        ({"type": "LinearLR", "begin": 0.5, "end": 1.5}, {"begin": 2, "end": 7}),
        ({"type": "PolyLR", "begin": 1, "end": 2.9}, {"begin": 5, "end": 14}),
    ],
)
def test_convert_to_iter_based_scales_by_the_epoch_length(table: dict, expected: dict) -> None:
    """begin/end and step_size/milestones times the epoch length, truncated after scaling."""
    (scheduler,) = build([{**table, "convert_to_iter_based": True}])
    assert scheduler.by_epoch is False
    assert {name: getattr(scheduler, name) for name in expected} == expected


def test_converted_multistep_decays_at_scaled_milestones() -> None:
    wrapper = make_wrapper()
    table = {"type": "MultiStepLR", "milestones": [1, 2], "convert_to_iter_based": True}
    (scheduler,) = build([table], wrapper, epoch_length=3)
    assert lrs(wrapper, scheduler, 9) == pytest.approx([0.1] * 3 + [0.01] * 3 + [0.001] * 3, rel=1e-12)


def test_converted_float_end_warms_up_within_the_first_epoch() -> None:
    """end = 0.5 epoch of 5 iterations: a two-step LinearLR warm-up, as MMEngine ran it."""
    wrapper = make_wrapper()
    table = {"type": "LinearLR", "start_factor": 0.25, "end": 0.5, "convert_to_iter_based": True}
    (scheduler,) = build([table], wrapper)
    assert lrs(wrapper, scheduler, 4) == pytest.approx([0.025, 0.1, 0.1, 0.1], rel=1e-12)


def test_float_window_without_conversion_compares_like_mmengine() -> None:
    """Without conversion MMEngine compares steps with the float bounds: [0.5, 2.5) is steps 1 and 2."""
    wrapper = make_wrapper()
    (scheduler,) = build([{"type": "ExponentialLR", "gamma": 0.5, "begin": 0.5, "end": 2.5}], wrapper)
    assert lrs(wrapper, scheduler, 4) == pytest.approx([0.1, 0.1, 0.05, 0.05], rel=1e-12)


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        (
            [{"type": "LinearLR", "by_epoch": False, "convert_to_iter_based": True}],
            "param_scheduler[0].convert_to_iter_based",
        ),
        (
            {"type": "StepLR", "step_size": 1, "by_epoch": False, "convert_to_iter_based": True},
            "param_scheduler.convert_to_iter_based",
        ),
    ],
)
def test_convert_to_iter_based_needs_by_epoch(cfg: Any, key: str) -> None:
    with pytest.raises(ConfigError, match="convert_to_iter_based needs by_epoch = true") as info:
        build(cfg)
    assert info.value.key == key


@pytest.mark.parametrize(
    ("cfg", "key", "suggestion"),
    [
        (
            [{"type": "LinearLR"}, {"type": "StepLR", "step_size": 1, "gama": 0.5}],
            "param_scheduler[1].gama",
            "gamma",
        ),
        ([{"type": "LinearLR", "start_factr": 0.5}], "param_scheduler[0].start_factr", "start_factor"),
        ({"type": "MultiStepLR", "milestone": [1]}, "param_scheduler.milestone", "milestones"),
    ],
)
def test_unknown_argument_names_its_key_and_suggests(cfg: Any, key: str, suggestion: str) -> None:
    with pytest.raises(ConfigError, match="has no argument") as info:
        build(cfg)
    assert info.value.key == key
    assert info.value.suggestions[0] == suggestion
    assert f"did you mean {suggestion!r}" in str(info.value)


def test_unknown_scheduler_type_suggests_the_closest() -> None:
    with pytest.raises(ComponentError, match="unknown parameter scheduler 'MultiStepLr'") as info:
        build([{"type": "MultiStepLr", "milestones": [1]}])
    assert info.value.key == "param_scheduler[0].type"
    assert info.value.suggestions[0] == "MultiStepLR"


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"type": "ConstantLR", "factor": 1.5}, "param_scheduler[0].factor"),
        ({"type": "ConstantLR", "factor": -1}, "param_scheduler[0].factor"),
        ({"type": "LinearLR", "start_factor": 0}, "param_scheduler[0].start_factor"),
        ({"type": "LinearLR", "end_factor": 2.0}, "param_scheduler[0].end_factor"),
        ({"type": "StepLR", "step_size": 0}, "param_scheduler[0].step_size"),
        ({"type": "StepLR", "step_size": "2"}, "param_scheduler[0].step_size"),
        ({"type": "LinearLR", "begin": 5, "end": 5}, "param_scheduler[0].end"),
        ({"type": "LinearLR", "end": "3"}, "param_scheduler[0].end"),
        ({"type": "MultiStepLR"}, "param_scheduler[0].milestones"),
    ],
)
def test_bad_values_are_config_errors_at_their_key(table: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build([table])
    assert info.value.key == key
