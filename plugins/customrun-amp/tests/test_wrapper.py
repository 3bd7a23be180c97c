"""AmpOptimWrapper on the CPU without loss scaling: bfloat16 autocast, dtypes, config errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from customrun_core.errors import ConfigError
from customrun_core.optim import OptimWrapper
from torch import nn

from customrun_amp import AmpOptimWrapper
from customrun_amp.wrapper import resolve_dtype

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def mse(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(model(inputs), targets)


def sgd(model: nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def train(wrapper: AmpOptimWrapper, model: nn.Module, batches: Batches) -> None:
    for inputs, targets in batches:
        with wrapper.optim_context(model):
            loss = mse(model, inputs, targets)
        wrapper.update_params(loss)


def test_defaults_on_the_cpu_are_bfloat16_without_a_scaler(model: nn.Module) -> None:
    wrapper = AmpOptimWrapper(sgd(model))
    assert wrapper.cast_dtype == torch.bfloat16
    assert wrapper.device == torch.device("cpu")
    assert wrapper.loss_scaler is None
    assert wrapper.loss_scale is None
    assert wrapper.skipped_steps == 0
    assert wrapper.log_values() == {}
    assert "loss_scaler" not in wrapper.state_dict()


def test_forward_runs_in_bfloat16_inside_the_context_only(model: nn.Module, batches: Batches) -> None:
    wrapper = AmpOptimWrapper(sgd(model), dtype="bfloat16")
    inputs = batches[0][0]
    with wrapper.optim_context(model):
        assert model(inputs).dtype == torch.bfloat16
    assert model(inputs).dtype == torch.float32


def test_gradients_and_parameters_stay_float32(model: nn.Module, batches: Batches) -> None:
    wrapper = AmpOptimWrapper(sgd(model))
    inputs, targets = batches[0]
    with wrapper.optim_context(model):
        loss = mse(model, inputs, targets)
    wrapper.backward(loss)
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
    wrapper.step()
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_training_equals_a_hand_written_autocast_loop(model: nn.Module, batches: Batches) -> None:
    reference = copy.deepcopy(model)
    reference_optimizer = sgd(reference)
    wrapper = AmpOptimWrapper(sgd(model))
    for inputs, targets in batches:
        train(wrapper, model, [(inputs, targets)])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = mse(reference, inputs, targets)
        loss.backward()
        reference_optimizer.step()
        reference_optimizer.zero_grad()
        for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
            assert torch.equal(ours, theirs)


@pytest.mark.parametrize(
    ("accumulative_counts", "max_counts", "divisors"),
    [(3, 10, [3, 3, 3, 3, 3, 3, 3, 3, 3, 1]), (4, 10, [4, 4, 4, 4, 4, 4, 4, 4, 2, 2]), (3, -1, [3] * 10)],
)
def test_accumulation_divides_the_loss_as_the_parent(
    model: nn.Module, accumulative_counts: int, max_counts: int, divisors: list[int]
) -> None:
    ours = AmpOptimWrapper(sgd(model), accumulative_counts=accumulative_counts)
    parent = OptimWrapper(sgd(copy.deepcopy(model)), accumulative_counts=accumulative_counts)
    seen: dict[str, list[float]] = {"ours": [], "parent": []}
    for name, wrapper in (("ours", ours), ("parent", parent)):
        if max_counts != -1:
            wrapper.initialize_count_status(model, 0, max_counts)
        for _ in range(10):
            one = torch.ones((), requires_grad=True)
            seen[name].append(round(1 / float(wrapper.scale_loss(one).detach())))
            wrapper.backward(wrapper.scale_loss(one))
    assert seen["ours"] == seen["parent"] == divisors


def test_clip_grad_without_a_scaler_logs_the_norm(model: nn.Module, batches: Batches) -> None:
    wrapper = AmpOptimWrapper(sgd(model), clip_grad={"type": "norm", "max_norm": 0.01})
    train(wrapper, model, batches[:1])
    assert wrapper.last_grad_norm is not None
    assert wrapper.log_values() == {"grad_norm": wrapper.last_grad_norm}


@pytest.mark.parametrize(
    ("dtype", "fragment", "suggestions"),
    [
        ("float16", "float16 is not supported on the CPU: use 'bfloat16'", []),
        (torch.float16, "float16 is not supported on the CPU", []),
        ("bfloat", "expected 'float16' or 'bfloat16', got string 'bfloat'", ["bfloat16"]),
        ("float32", "expected 'float16' or 'bfloat16', got string 'float32'", ["float16"]),
        (torch.float32, "expected 'float16' or 'bfloat16'", []),
    ],
)
def test_a_bad_dtype_is_a_one_line_config_error(
    model: nn.Module, dtype: Any, fragment: str, suggestions: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        AmpOptimWrapper(sgd(model), dtype=dtype)
    assert caught.value.key == "dtype"
    assert fragment in caught.value.message
    assert caught.value.suggestions[:1] == suggestions
    assert "\n" not in str(caught.value)


def test_dtype_defaults_and_bfloat16_support_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """No GPU needed: the device capability is what decides."""
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    assert resolve_dtype(None, cuda) == torch.float16
    with pytest.raises(ConfigError, match="dtype: Tesla T4 has no native bfloat16: use 'float16'"):
        resolve_dtype("bfloat16", cuda)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert resolve_dtype("bfloat16", cuda) == torch.bfloat16


@pytest.mark.parametrize(
    ("loss_scale", "key", "fragment"),
    [
        ("dynamc", "loss_scale", "expected 'dynamic', a number > 0 (a static scale) or a table"),
        (0, "loss_scale", "expected a number > 0, got integer 0"),
        (-512.0, "loss_scale", "expected a number > 0, got float -512.0"),
        (float("inf"), "loss_scale", "expected a number > 0, got float inf"),
        (True, "loss_scale", "got boolean True"),
        ([512], "loss_scale", "got array [512]"),
        ({"init_scal": 512.0}, "loss_scale.init_scal", "GradScaler has no argument 'init_scal'"),
        ({"device": "cuda"}, "loss_scale.device", "(it takes init_scale, growth_factor, backoff_factor"),
        ({"growth_factor": 1.0}, "loss_scale.growth_factor", "expected a number > 1, got float 1.0"),
        ({"backoff_factor": 2}, "loss_scale.backoff_factor", "expected a number between 0 and 1"),
        ({"growth_interval": 0.5}, "loss_scale.growth_interval", "expected an integer >= 1"),
        ({"enabled": 1}, "loss_scale.enabled", "expected a boolean, got integer 1"),
    ],
)
def test_a_bad_loss_scale_is_a_config_error(
    model: nn.Module, loss_scale: Any, key: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        AmpOptimWrapper(sgd(model), loss_scale=loss_scale)
    assert caught.value.key == key
    assert fragment in caught.value.message
    assert "\n" not in str(caught.value)


def test_misspelt_loss_scale_names_suggest_the_right_one(model: nn.Module) -> None:
    with pytest.raises(ConfigError) as caught:
        AmpOptimWrapper(sgd(model), loss_scale="dynamc")
    assert caught.value.suggestions == ["dynamic"]
    with pytest.raises(ConfigError) as caught:
        AmpOptimWrapper(sgd(model), loss_scale={"init_scal": 512.0})
    assert caught.value.suggestions[0] == "init_scale"
