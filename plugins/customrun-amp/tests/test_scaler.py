"""Loss scaling on the CPU: an explicit ``loss_scale`` turns a GradScaler on under bfloat16.

The forward passes here run in float32, outside ``optim_context``: scaling by a power of two and
unscaling again is then exact, so a scaled run must match an unscaled ``OptimWrapper`` bit for bit.
"""

from __future__ import annotations

import copy
import io
import math
from typing import Any

import pytest
import torch
from customrun_core.optim import OptimWrapper
from customrun_core.scalars import ScalarBuffer
from torch import nn

from customrun_amp import AmpOptimWrapper

Batches = list[tuple[torch.Tensor, torch.Tensor]]


def mse(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(model(inputs), targets)


def sgd(model: nn.Module) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def clean_steps(wrapper: OptimWrapper, model: nn.Module, batches: Batches) -> None:
    for inputs, targets in batches:
        wrapper.update_params(mse(model, inputs, targets))


def grad(param: torch.Tensor) -> torch.Tensor:
    assert param.grad is not None
    return param.grad


def poisoned_step(wrapper: AmpOptimWrapper, model: nn.Module, batch: Any, bad: float = math.inf) -> None:
    """One backward and step with ``bad`` written into the first gradient in between."""
    wrapper.backward(wrapper.scale_loss(mse(model, *batch)))
    grad(next(model.parameters()))[0, 0] = bad
    wrapper.step()
    wrapper.zero_grad()


@pytest.mark.parametrize(
    ("loss_scale", "scale"), [({}, 65536.0), ({"init_scale": 1024}, 1024.0), (512, 512.0), (512.0, 512.0)]
)
def test_an_explicit_loss_scale_turns_scaling_on_for_bfloat16(
    model: nn.Module, loss_scale: Any, scale: float
) -> None:
    wrapper = AmpOptimWrapper(sgd(model), loss_scale=loss_scale)
    assert wrapper.cast_dtype == torch.bfloat16
    assert wrapper.loss_scaler is not None
    assert wrapper.loss_scale == scale


def test_a_disabled_scaler_table_means_no_scaling(model: nn.Module) -> None:
    assert AmpOptimWrapper(sgd(model), loss_scale={"enabled": False}).loss_scaler is None


def test_backward_scales_the_gradients(model: nn.Module, batches: Batches) -> None:
    reference = copy.deepcopy(model)
    mse(reference, *batches[0]).backward()
    wrapper = AmpOptimWrapper(sgd(model), loss_scale={})
    wrapper.backward(mse(model, *batches[0]))
    for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(grad(ours), 65536.0 * grad(theirs))


@pytest.mark.parametrize("accumulative_counts", [1, 2, 4])
@pytest.mark.parametrize("clip_grad", [None, {"max_norm": 0.05}, {"type": "value", "clip_value": 0.01}])
def test_scaled_training_equals_unscaled_training(
    model: nn.Module, batches: Batches, accumulative_counts: int, clip_grad: dict[str, Any] | None
) -> None:
    """Same parameters and logged grad norm after every iteration: unscale comes before clipping,
    the loss divisors and the window ends are the parent's."""
    reference = copy.deepcopy(model)
    plain = OptimWrapper(sgd(reference), accumulative_counts=accumulative_counts, clip_grad=clip_grad)
    scaled = AmpOptimWrapper(
        sgd(model), loss_scale={}, accumulative_counts=accumulative_counts, clip_grad=clip_grad
    )
    for wrapper in (plain, scaled):
        wrapper.initialize_count_status(None, 0, len(batches))
    for batch in batches:
        clean_steps(plain, reference, [batch])
        clean_steps(scaled, model, [batch])
        for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
            assert torch.equal(ours, theirs)
        assert scaled.last_grad_norm == plain.last_grad_norm
    assert scaled.skipped_steps == 0
    assert scaled.loss_scale == 65536.0


def test_clipping_logs_the_unscaled_norm(model: nn.Module, batches: Batches) -> None:
    reference = copy.deepcopy(model)
    mse(reference, *batches[0]).backward()
    expected = torch.linalg.vector_norm(torch.stack([grad(p).norm() for p in reference.parameters()]))
    wrapper = AmpOptimWrapper(sgd(model), loss_scale={}, clip_grad={"max_norm": 1e-3})
    clean_steps(wrapper, model, batches[:1])
    assert wrapper.last_grad_norm == pytest.approx(float(expected), rel=1e-6)
    assert wrapper.log_values()["grad_norm"] is wrapper.last_grad_norm


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_an_inf_or_nan_gradient_skips_the_step_and_halves_the_scale(
    model: nn.Module, batches: Batches, bad: float
) -> None:
    optimizer = sgd(model)
    wrapper = AmpOptimWrapper(optimizer, loss_scale={})
    before = params(model)
    poisoned_step(wrapper, model, batches[0], bad)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert optimizer.state_dict()["state"] == {}  # no momentum buffer: the optimizer never stepped
    assert wrapper.skipped_steps == 1
    assert wrapper.loss_scale == 32768.0
    clean_steps(wrapper, model, batches[1:2])
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert wrapper.skipped_steps == 1
    assert wrapper.loss_scale == 32768.0


def test_a_fused_optimizer_skips_inside_its_step_and_the_skip_is_counted(
    model: nn.Module, batches: Batches
) -> None:
    """Fused Adam takes GradScaler's found_inf into its kernel: its step() runs, updating nothing."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, fused=True)
    wrapper = AmpOptimWrapper(optimizer, loss_scale={})
    before = params(model)
    poisoned_step(wrapper, model, batches[0])
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 32768.0)
    clean_steps(wrapper, model, batches[1:2])
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 32768.0)
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_static_scale_skips_bad_steps_and_keeps_its_value(model: nn.Module, batches: Batches) -> None:
    wrapper = AmpOptimWrapper(sgd(model), loss_scale=512)
    poisoned_step(wrapper, model, batches[0])
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 512.0)
    clean_steps(wrapper, model, batches)
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 512.0)


def test_the_scale_grows_after_growth_interval_clean_steps(model: nn.Module, batches: Batches) -> None:
    wrapper = AmpOptimWrapper(sgd(model), loss_scale={"init_scale": 4.0, "growth_interval": 3})
    scales = []
    for batch in batches:
        clean_steps(wrapper, model, [batch])
        scales.append(wrapper.loss_scale)
    assert scales == [4.0, 4.0, 8.0, 8.0, 8.0, 16.0]


def test_with_accumulation_the_scale_changes_only_at_a_window_end(model: nn.Module, batches: Batches) -> None:
    wrapper = AmpOptimWrapper(
        sgd(model), loss_scale={"init_scale": 4.0, "growth_interval": 1}, accumulative_counts=2
    )
    scales = []
    for batch in batches[:4]:
        clean_steps(wrapper, model, [batch])
        scales.append(wrapper.loss_scale)
    assert scales == [4.0, 8.0, 8.0, 16.0]
    before = params(model)
    wrapper.backward(wrapper.scale_loss(mse(model, *batches[4])))
    grad(next(model.parameters()))[0, 0] = math.inf
    clean_steps(wrapper, model, batches[5:])  # the window's second half is clean: the step still skips
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert (wrapper.skipped_steps, wrapper.loss_scale) == (1, 8.0)


def test_logged_values_keep_the_value_of_their_step(model: nn.Module, batches: Batches) -> None:
    """Logging stores what ``log_values`` returns and reads it later (one sync a log line)."""
    wrapper = AmpOptimWrapper(sgd(model), loss_scale={})
    scalars = ScalarBuffer()
    clean_steps(wrapper, model, batches[:1])
    for name, value in wrapper.log_values().items():
        scalars.update(name, value)
    poisoned_step(wrapper, model, batches[1])
    for name, value in wrapper.log_values().items():
        scalars.update(name, value)
    assert scalars.flush() == {"loss_scale": (65536.0 + 32768.0) / 2, "skipped_steps": 0.5}


def round_trip(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_state_dict_round_trip_resumes_with_the_same_scale(model: nn.Module, batches: Batches) -> None:
    scaler_cfg = {"init_scale": 8.0, "growth_interval": 2}
    wrapper = AmpOptimWrapper(sgd(model), loss_scale=scaler_cfg)
    clean_steps(wrapper, model, batches[:3])
    poisoned_step(wrapper, model, batches[3])
    state = round_trip(wrapper.state_dict())
    assert state["loss_scaler"] == {
        "scale": 8.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 2,
        "_growth_tracker": 0,
    }
    assert state["skipped_steps"] == 1

    resumed_model = copy.deepcopy(model)
    resumed = AmpOptimWrapper(sgd(resumed_model), loss_scale=scaler_cfg)
    resumed.load_state_dict(state)
    assert (resumed.loss_scale, resumed.skipped_steps) == (8.0, 1)
    for wrapper_, model_ in ((wrapper, model), (resumed, resumed_model)):
        clean_steps(wrapper_, model_, batches[4:])
    assert resumed.loss_scaler is not None and wrapper.loss_scaler is not None
    assert resumed.loss_scaler.state_dict() == wrapper.loss_scaler.state_dict()
    assert resumed.loss_scale == 16.0
    for ours, theirs in zip(resumed_model.parameters(), model.parameters(), strict=True):
        assert torch.equal(ours, theirs)


def test_a_plain_optim_wrapper_checkpoint_keeps_a_fresh_scaler(model: nn.Module, batches: Batches) -> None:
    plain = OptimWrapper(sgd(model))
    clean_steps(plain, model, batches[:2])
    wrapper = AmpOptimWrapper(sgd(model), loss_scale={})
    wrapper.load_state_dict(round_trip(plain.state_dict()))
    assert (wrapper.loss_scale, wrapper.skipped_steps) == (65536.0, 0)
    assert wrapper.optimizer.state_dict()["state"].keys() == {0, 1, 2, 3}


def test_a_scaler_state_without_a_scaler_is_ignored_with_a_warning(
    model: nn.Module, batches: Batches
) -> None:
    scaled = AmpOptimWrapper(sgd(model), loss_scale={})
    clean_steps(scaled, model, batches[:1])
    unscaled = AmpOptimWrapper(sgd(model))
    with pytest.warns(UserWarning, match=r"scales no loss \(torch.bfloat16\): ignored"):
        unscaled.load_state_dict(scaled.state_dict())
    assert "loss_scaler" not in unscaled.state_dict()
