"""MMPretrain's Lamb against the published LAMB update (You et al. 2019, timm's variant), written
out here in float64, one tensor at a time, for several steps."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from customrun_core import registry
from customrun_core.optim import build_optim_wrapper

from customrun_lars import Lamb

DEFAULTS = {
    "lr": 1e-3,
    "bias_correction": True,
    "betas": (0.9, 0.999),
    "eps": 1e-6,
    "weight_decay": 0.01,
    "grad_averaging": True,
    "trust_clip": False,
    "always_adapt": False,
}


def reference_steps(
    weights: list[list[torch.Tensor]],
    grads: list[list[list[torch.Tensor]]],
    groups: list[dict[str, Any]],
    max_grad_norm: float | None,
) -> list[list[torch.Tensor]]:
    """The weights after one step per entry of ``grads`` (step -> group -> tensor), in float64."""
    w = [[t.double().clone() for t in ws] for ws in weights]
    m = [[torch.zeros_like(t) for t in ws] for ws in w]
    v = [[torch.zeros_like(t) for t in ws] for ws in w]
    for t, step_grads in enumerate(grads, start=1):
        g = [[x.double() for x in gs] for gs in step_grads]
        norm = math.sqrt(sum(float((x * x).sum()) for gs in g for x in gs))
        scale = norm / max_grad_norm if max_grad_norm is not None and norm > max_grad_norm else 1.0
        for i, settings in enumerate({**DEFAULTS, **group} for group in groups):
            b1, b2 = settings["betas"]
            c1, c2 = (1 - b1**t, 1 - b2**t) if settings["bias_correction"] else (1.0, 1.0)
            for j in range(len(w[i])):
                gj = g[i][j] / scale
                m[i][j] = b1 * m[i][j] + (1 - b1 if settings["grad_averaging"] else 1.0) * gj
                v[i][j] = b2 * v[i][j] + (1 - b2) * gj * gj
                r = (m[i][j] / c1) / (torch.sqrt(v[i][j] / c2) + settings["eps"])
                u = r + settings["weight_decay"] * w[i][j]
                trust = 1.0
                if settings["weight_decay"] != 0 or settings["always_adapt"]:
                    wn, un = float(w[i][j].norm()), float(u.norm())
                    trust = wn / un if wn > 0 and un > 0 else 1.0
                    if settings["trust_clip"]:
                        trust = min(trust, 1.0)
                w[i][j] = w[i][j] - settings["lr"] * trust * u
    return w


GROUPS = [
    pytest.param([{}], id="defaults"),
    pytest.param([{"weight_decay": 0.0}, {"weight_decay": 0.1, "lr": 0.02}], id="no-decay-skips-trust"),
    pytest.param(
        [{"weight_decay": 0.0, "always_adapt": True}, {"trust_clip": True, "lr": 0.5}], id="adapt-clip"
    ),
    pytest.param(
        [{"bias_correction": False, "grad_averaging": False, "betas": (0.8, 0.99)}], id="raw-moments"
    ),
]


@pytest.mark.parametrize("max_grad_norm", [1.0, 50.0, None])
@pytest.mark.parametrize("groups", GROUPS)
def test_steps_equal_the_published_update(groups: list[dict[str, Any]], max_grad_norm: float | None) -> None:
    """Gradients of global norm about 9: clipped with max_grad_norm 1, not with 50."""
    gen = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (4,), (2, 2, 2)]
    weights = [[torch.randn(s, generator=gen) for s in shapes] for _ in groups]
    weights[0][1].zero_()  # a zero tensor: trust ratio 1
    grads = [[[2 * torch.randn(s, generator=gen) for s in shapes] for _ in groups] for _ in range(4)]
    params = [[torch.nn.Parameter(t.clone()) for t in ws] for ws in weights]
    optimizer = Lamb(
        [{"params": ps, **group} for ps, group in zip(params, groups, strict=True)],
        max_grad_norm=max_grad_norm,
    )
    for step_grads in grads:
        for ps, gs in zip(params, step_grads, strict=True):
            for p, g in zip(ps, gs, strict=True):
                p.grad = g.clone()
        optimizer.step()
        # the gradients are left as they were (MMPretrain divides them in place)
        flat = [
            (p.grad, g)
            for ps, gs in zip(params, step_grads, strict=True)
            for p, g in zip(ps, gs, strict=True)
        ]
        assert all(torch.equal(a, b) for a, b in flat)
    expected = reference_steps(weights, grads, groups, max_grad_norm)
    for ps, ws in zip(params, expected, strict=True):
        for p, w in zip(ps, ws, strict=True):
            torch.testing.assert_close(p.detach().double(), w, rtol=1e-6, atol=1e-7)


def test_the_entry_point_builds_it_from_a_config() -> None:
    registry.refresh()
    assert registry.resolve("optimizers", "Lamb") is Lamb
    model = torch.nn.Linear(3, 2)
    cfg = {"optimizer": {"type": "Lamb", "lr": 0.005, "weight_decay": 0.02, "betas": [0.9, 0.99]}}
    optimizer = build_optim_wrapper(model, cfg).optimizer
    assert type(optimizer) is Lamb
    assert optimizer.defaults["lr"] == 0.005 and optimizer.defaults["betas"] == (0.9, 0.99)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, "lr must be >= 0"),
        ({"betas": (0.9, 1.0)}, "betas must be two numbers in [0, 1)"),
        ({"max_grad_norm": 0.0}, "max_grad_norm must be > 0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        Lamb([torch.nn.Parameter(torch.ones(2))], **kwargs)
