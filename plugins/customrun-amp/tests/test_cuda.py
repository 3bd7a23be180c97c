"""AmpOptimWrapper on a CUDA device: float16 with dynamic or static loss scaling, bfloat16 without.

Every test here needs a GPU; conftest.py skips them when torch sees none.
"""

from __future__ import annotations

import copy
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from customrun_core import Runner, registry
from customrun_core.errors import ConfigError
from customrun_core.testing import tiny_config
from torch import nn

from customrun_amp import AmpOptimWrapper

pytestmark = pytest.mark.cuda

Batches = list[tuple[torch.Tensor, torch.Tensor]]


@pytest.fixture
def cuda_model(model: nn.Module) -> nn.Module:
    return model.cuda()


@pytest.fixture
def cuda_batches(batches: Batches) -> Batches:
    return [(inputs.cuda(), targets.cuda()) for inputs, targets in batches]


def mse(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(model(inputs), targets)


def sgd(model: nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def grad(param: torch.Tensor) -> torch.Tensor:
    assert param.grad is not None
    return param.grad


def train(wrapper: AmpOptimWrapper, model: nn.Module, batches: Batches) -> None:
    for inputs, targets in batches:
        with wrapper.optim_context(model):
            loss = mse(model, inputs, targets)
        wrapper.update_params(loss)


def poisoned_step(wrapper: AmpOptimWrapper, model: nn.Module, batch: Any) -> None:
    with wrapper.optim_context(model):
        loss = mse(model, *batch)
    wrapper.backward(wrapper.scale_loss(loss))
    grad(next(model.parameters()))[0, 0] = math.inf
    wrapper.step()
    wrapper.zero_grad()


def test_defaults_on_cuda_are_float16_with_a_dynamic_scaler(
    cuda_model: nn.Module, cuda_batches: Batches
) -> None:
    wrapper = AmpOptimWrapper(sgd(cuda_model))
    assert wrapper.device.type == "cuda"
    assert wrapper.cast_dtype == torch.float16
    assert wrapper.loss_scaler is not None
    assert wrapper.loss_scale == 65536.0
    inputs = cuda_batches[0][0]
    with wrapper.optim_context(cuda_model):
        assert cuda_model(inputs).dtype == torch.float16
    assert cuda_model(inputs).dtype == torch.float32


@pytest.mark.parametrize("clip_grad", [None, {"max_norm": 0.05}])
def test_training_equals_a_hand_written_grad_scaler_loop(
    cuda_model: nn.Module, cuda_batches: Batches, clip_grad: dict[str, Any] | None
) -> None:
    reference = copy.deepcopy(cuda_model)
    reference_optimizer = sgd(reference)
    scaler = torch.amp.GradScaler("cuda")
    wrapper = AmpOptimWrapper(sgd(cuda_model), clip_grad=clip_grad)
    for inputs, targets in cuda_batches:
        train(wrapper, cuda_model, [(inputs, targets)])
        with torch.autocast("cuda", dtype=torch.float16):
            loss = mse(reference, inputs, targets)
        scaler.scale(loss).backward()
        if clip_grad is not None:
            scaler.unscale_(reference_optimizer)
            norm = nn.utils.clip_grad_norm_(list(reference.parameters()), **clip_grad)
            assert torch.equal(wrapper.log_values()["grad_norm"], norm)
        scaler.step(reference_optimizer)
        scaler.update()
        reference_optimizer.zero_grad()
        for ours, theirs in zip(cuda_model.parameters(), reference.parameters(), strict=True):
            assert torch.equal(ours, theirs)
    assert wrapper.loss_scale == scaler.get_scale()


def test_dynamic_scaling_keeps_tiny_float16_gradients(cuda_batches: Batches) -> None:
    """A gradient of 1e-8 underflows in float16 (its smallest number is 6e-8); scaled by 65536 it
    does not, and unscaled again it matches float32."""
    inputs = cuda_batches[0][0]  # values near -0.85: the weight's gradient is about 2 * 0.85 * dL/dy
    layer = nn.Linear(4, 2).cuda()
    grads = {}
    for name, loss_scale in (("scaled", "dynamic"), ("unscaled", {"enabled": False})):
        model = copy.deepcopy(layer)
        wrapper = AmpOptimWrapper(sgd(model), loss_scale=loss_scale)
        with wrapper.optim_context(model):
            loss = model(inputs).float().sum() * 1e-8
        wrapper.backward(loss)
        if wrapper.loss_scaler is not None:
            wrapper.loss_scaler.unscale_(wrapper.optimizer)
        grads[name] = grad(model.weight)
    reference = copy.deepcopy(layer)
    (reference(inputs).sum() * 1e-8).backward()
    assert torch.count_nonzero(grads["unscaled"]) == 0
    torch.testing.assert_close(grads["scaled"], grad(reference.weight), rtol=1e-2, atol=0.0)


def test_an_inf_gradient_skips_the_step_and_halves_the_scale(
    cuda_model: nn.Module, cuda_batches: Batches
) -> None:
    wrapper = AmpOptimWrapper(sgd(cuda_model))
    before = params(cuda_model)
    poisoned_step(wrapper, cuda_model, cuda_batches[0])
    assert all(torch.equal(a, b) for a, b in zip(before, cuda_model.parameters(), strict=True))
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 32768.0)
    train(wrapper, cuda_model, cuda_batches[1:])
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 32768.0)


def test_a_static_scale_on_cuda_skips_bad_steps_and_keeps_its_value(
    cuda_model: nn.Module, cuda_batches: Batches
) -> None:
    wrapper = AmpOptimWrapper(sgd(cuda_model), loss_scale=512)
    before = params(cuda_model)
    poisoned_step(wrapper, cuda_model, cuda_batches[0])
    assert all(torch.equal(a, b) for a, b in zip(before, cuda_model.parameters(), strict=True))
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 512.0)
    train(wrapper, cuda_model, cuda_batches[1:])
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 512.0)


def test_bfloat16_on_cuda_runs_without_a_scaler(cuda_model: nn.Module, cuda_batches: Batches) -> None:
    if torch.version.hip is None and torch.cuda.get_device_capability() < (8, 0):
        with pytest.raises(ConfigError, match="has no native bfloat16"):
            AmpOptimWrapper(sgd(cuda_model), dtype="bfloat16")
        return
    wrapper = AmpOptimWrapper(sgd(cuda_model), dtype="bfloat16")
    assert wrapper.loss_scaler is None
    with wrapper.optim_context(cuda_model):
        assert cuda_model(cuda_batches[0][0]).dtype == torch.bfloat16
    train(wrapper, cuda_model, cuda_batches)
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in cuda_model.parameters())


def test_a_step_and_its_log_values_do_not_synchronise(cuda_model: nn.Module, cuda_batches: Batches) -> None:
    """With a fused optimizer nothing in a step reads the device; the logged values stay tensors."""
    wrapper = AmpOptimWrapper(torch.optim.Adam(cuda_model.parameters(), lr=1e-3, fused=True))
    train(wrapper, cuda_model, cuda_batches[:1])  # creates the optimizer state and the scale
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        train(wrapper, cuda_model, cuda_batches[1:])
        values = wrapper.log_values()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert values["loss_scale"].device.type == values["skipped_steps"].device.type == "cuda"
    assert (float(values["loss_scale"]), int(values["skipped_steps"])) == (65536.0, 0)


def test_state_dict_round_trip_on_cuda(cuda_model: nn.Module, cuda_batches: Batches) -> None:
    wrapper = AmpOptimWrapper(sgd(cuda_model))
    poisoned_step(wrapper, cuda_model, cuda_batches[0])
    train(wrapper, cuda_model, cuda_batches[1:3])
    buffer = io.BytesIO()
    torch.save(wrapper.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    resumed = AmpOptimWrapper(sgd(copy.deepcopy(cuda_model)))
    resumed.load_state_dict(state)
    assert (resumed.loss_scale, resumed.skipped_steps) == (32768.0, 1)
    assert resumed.loss_scaler is not None and wrapper.loss_scaler is not None
    assert resumed.loss_scaler.state_dict() == wrapper.loss_scaler.state_dict()


def test_a_run_trains_in_float16_on_cuda(tmp_path: Path) -> None:
    registry.refresh()
    cfg = tiny_config(
        optim_wrapper={"type": "AmpOptimWrapper", "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}},
        work_dir=str(tmp_path / "work"),
    )
    runner = Runner.from_config(cfg, device="cuda")
    runner.train()
    assert runner.optim_wrapper.cast_dtype == torch.float16
    assert runner.optim_wrapper.loss_scaler is not None
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())
    lines = (tmp_path / "work" / "scalars.jsonl").read_text(encoding="utf-8").splitlines()
    assert any(json.loads(line)["mode"] == "train" for line in lines)
    checkpoint = torch.load(tmp_path / "work" / "epoch_1.pt", weights_only=True)
    assert checkpoint["optimizer"]["loss_scaler"]["scale"] == runner.optim_wrapper.loss_scale
