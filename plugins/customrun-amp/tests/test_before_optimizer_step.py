"""before_optimizer_step under AMP: a real GradScaler on the CPU (bfloat16 autocast, an explicit
loss scale). The hook sees the gradients unscaled and not yet clipped: the ones torch computes for
the same batches without any scaling, under the same autocast."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from customrun_core import Hook, Runner, unwrap_model
from customrun_core.testing import tiny_config
from torch import nn

from customrun_amp import AmpOptimWrapper

Batches = list[tuple[torch.Tensor, torch.Tensor]]
MAX_NORM = 0.01  # below every gradient norm here: clipping always changes the gradients


def mse(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(model(inputs), targets)


def grads_of(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def by_hand(model: nn.Module, window: Batches) -> list[torch.Tensor]:
    """The gradients of ``window``'s mean loss, by torch under the same autocast, without a scaler."""
    reference = copy.deepcopy(model)
    for inputs, targets in window:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = mse(reference, inputs, targets)
        (loss / len(window)).backward()
    return grads_of(reference)


def norm(grads: list[torch.Tensor]) -> float:
    return math.sqrt(sum(float(g.square().sum()) for g in grads))


@pytest.mark.parametrize("accumulative_counts", [1, 2])
def test_the_hook_sees_the_unscaled_gradients_before_clipping(
    model: nn.Module, batches: Batches, accumulative_counts: int
) -> None:
    wrapper = AmpOptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1),
        loss_scale=1024,
        accumulative_counts=accumulative_counts,
        clip_grad={"max_norm": MAX_NORM},
    )
    assert wrapper.loss_scaler is not None and wrapper.cast_dtype == torch.bfloat16
    seen: list[tuple[Any, list[torch.Tensor]]] = []
    wrapper.before_step_hooks = lambda optim_wrapper: seen.append((optim_wrapper, grads_of(model)))
    for start in range(0, len(batches), accumulative_counts):
        window = batches[start : start + accumulative_counts]
        expected = by_hand(model, window)
        for inputs, targets in window:
            with wrapper.optim_context(model):
                loss = mse(model, inputs, targets)
            wrapper.update_params(loss)
        hook_wrapper, grads = seen[-1]
        assert hook_wrapper is wrapper
        torch.testing.assert_close(grads, expected)  # unscaled: 1024 times these before unscale_
        assert norm(grads) > MAX_NORM  # not clipped yet
        # clipping came after the hook, on the same gradients: its pre-clip norm is theirs
        assert float(wrapper.last_grad_norm) == pytest.approx(norm(grads), rel=1e-5)
    assert len(seen) == len(batches) // accumulative_counts
    assert wrapper.skipped_steps == 0 and wrapper.loss_scale == 1024.0


def test_a_hook_changes_nothing_in_scaled_training(model: nn.Module, batches: Batches) -> None:
    """The wrapper unscales before the hook in every step now: the steps are the same bit for bit."""
    reference = copy.deepcopy(model)
    runs = []
    for net, hooked in ((model, True), (reference, False)):
        wrapper = AmpOptimWrapper(torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9), loss_scale={})
        if hooked:
            wrapper.before_step_hooks = lambda optim_wrapper: None
        for inputs, targets in batches:
            with wrapper.optim_context(net):
                loss = mse(net, inputs, targets)
            wrapper.update_params(loss)
        runs.append(wrapper)
    for ours, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(ours, theirs)
    assert runs[0].loss_scale == runs[1].loss_scale


class NormProbe(Hook):
    """The total norm of the gradients each step shows the hook point."""

    def __init__(self) -> None:
        self.norms: list[float] = []

    def before_optimizer_step(self, runner: Any, optim_wrapper: Any) -> None:
        assert optim_wrapper is runner.optim_wrapper
        self.norms.append(norm(grads_of(unwrap_model(runner.model))))


def test_a_run_fires_it_on_every_step_with_the_unscaled_gradients(tmp_path: Path) -> None:
    """Through the Runner: what the hook saw is what clip_grad_norm_ logged as the norm before clipping."""
    probe = NormProbe()
    optim = {
        "type": "AmpOptimWrapper",
        "optimizer": {"type": "SGD", "lr": 0.1},
        "loss_scale": 512,
        "clip_grad": {"max_norm": MAX_NORM},
    }
    cfg = tiny_config(
        optim_wrapper=optim,
        custom_hooks=[probe],
        default_hooks={"logger": {"type": "LoggerHook", "interval": 1}},
        work_dir=str(tmp_path / "work"),
    )
    runner = Runner.from_config(cfg, device="cpu")
    runner.train()
    lines = (tmp_path / "work" / "scalars.jsonl").read_text(encoding="utf-8").splitlines()
    logged = [row["grad_norm"] for row in map(json.loads, lines) if row["mode"] == "train"]
    assert len(probe.norms) == runner.iter == len(logged)
    assert probe.norms == pytest.approx(logged, rel=1e-5)
    assert min(probe.norms) > MAX_NORM
