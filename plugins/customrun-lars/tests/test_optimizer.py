"""LARS: MMPretrain's numbers, the multi-tensor step against the per-parameter reference, state, checks."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch

from customrun_lars import LARS

SIMCLR: dict[str, Any] = {"lr": 0.3, "momentum": 0.9, "weight_decay": 1e-6}
EXCLUDED: dict[str, Any] = {
    "weight_decay": 0.0,
    "decay_mult": 0,
    "lars_exclude": True,
}  # what custom_keys copies


def simclr_pair(
    optimizer_cls: Any, dtype: torch.dtype = torch.float32
) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """The reference's toy: conv.weight under LARS, bn.weight excluded with decay 0."""
    conv = torch.tensor([-0.9, 1.1], dtype=dtype, requires_grad=True)
    bn = torch.tensor([-0.8, 1.2], dtype=dtype, requires_grad=True)
    optimizer = optimizer_cls([{"params": [conv]}, {"params": [bn], **EXCLUDED}], **SIMCLR)
    return optimizer, conv, bn


def simclr_step(optimizer: Any, *params: torch.Tensor) -> None:
    for param in params:
        param.grad = torch.tensor([0.5, -0.5], dtype=param.dtype)
    optimizer.step()


@pytest.mark.parametrize("implementation", ["fast", "reference"])
def test_simclr_numbers_of_mmpretrain(implementation: str, reference_lars: Any) -> None:
    optimizer, conv, bn = simclr_pair(LARS if implementation == "fast" else reference_lars)
    simclr_step(optimizer, conv, bn)
    assert torch.equal(conv, torch.tensor([-0.9003014565, 1.100301504]))
    torch.testing.assert_close(bn.detach(), torch.tensor([-0.95, 1.35]), rtol=0, atol=2e-7)
    simclr_step(optimizer, conv, bn)
    assert torch.equal(conv, torch.tensor([-0.9008743763, 1.100874424]))
    torch.testing.assert_close(bn.detach(), torch.tensor([-1.235, 1.635]), rtol=0, atol=2e-7)


GROUPS: list[dict[str, Any]] = [
    {},  # the defaults: LARS with weight decay and momentum
    {"lars_exclude": True},  # excluded, weight decay still applied
    {"lars_exclude": True, "weight_decay": 0.0},
    {"weight_decay": 0.0, "momentum": 0.0},
    {"momentum": 0.0, "eta": 0.02},
    {"nesterov": True},
    {"dampening": 0.3, "momentum": 0.5, "lr": 0.05},
]


def make_params(dtype: torch.dtype, generator: torch.Generator) -> list[list[torch.Tensor]]:
    """Per group: a matrix, a vector, a zero weight and a tensor that only gets a grad later."""
    groups = []
    for _ in GROUPS:
        shapes = [(5, 3), (7,), (4,), (2, 2)]
        tensors = [torch.randn(shape, generator=generator, dtype=dtype) for shape in shapes]
        tensors[2].zero_()
        groups.append([t.requires_grad_() for t in tensors])
    return groups


def set_grads(groups: list[list[torch.Tensor]], step: int, generator: torch.Generator) -> None:
    """Random grads; the vector's grad is zero at the first step, the last tensor has none before the
    third (so its momentum buffer starts while the others' run on)."""
    for tensors in groups:
        for tensor in tensors:
            tensor.grad = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)
        if step == 0:
            tensors[1].grad.zero_()  # type: ignore[union-attr]
        if step < 2:
            tensors[3].grad = None


def run_steps(
    optimizer_cls: Any, dtype: torch.dtype, steps: int = 5, split: bool = False
) -> list[list[torch.Tensor]]:
    """Steps over GROUPS; ``split``: one group per tensor, as paramwise_cfg makes them."""
    generator = torch.Generator().manual_seed(0)
    groups = make_params(dtype, generator)
    pairs = list(zip(groups, GROUPS, strict=True))
    if split:
        layout = [{"params": [tensor], **extra} for tensors, extra in pairs for tensor in tensors]
    else:
        layout = [{"params": tensors, **extra} for tensors, extra in pairs]
    optimizer = optimizer_cls(layout, lr=0.1, momentum=0.9, weight_decay=1e-2)
    for step in range(steps):
        set_grads(groups, step, generator)
        optimizer.step()
        for group in optimizer.param_groups:
            group["lr"] *= 0.8  # as a scheduler would: lr is read at every step
    return groups


@pytest.mark.parametrize("split", [False, True], ids=["groups", "one-tensor-groups"])
@pytest.mark.parametrize(
    ("dtype", "rtol", "atol"), [(torch.float32, 1e-5, 1e-6), (torch.float64, 1e-12, 1e-14)]
)
def test_fast_path_matches_the_reference(
    dtype: torch.dtype, rtol: float, atol: float, split: bool, reference_lars: Any
) -> None:
    fast = run_steps(LARS, dtype, split=split)
    slow = run_steps(reference_lars, dtype)
    for fast_group, slow_group in zip(fast, slow, strict=True):
        for got, expected in zip(fast_group, slow_group, strict=True):
            torch.testing.assert_close(got.detach(), expected.detach(), rtol=rtol, atol=atol)


def test_the_steps_move_every_kind_of_tensor() -> None:
    """Guards the comparison above against a setup where nothing happens."""
    generator = torch.Generator().manual_seed(0)
    before = make_params(torch.float64, generator)
    after = run_steps(LARS, torch.float64)
    for before_group, after_group in zip(before, after, strict=True):
        for old, new in zip(before_group, after_group, strict=True):
            assert not torch.equal(old, new)


def test_mixed_dtypes_in_one_group_match_the_reference(reference_lars: Any) -> None:
    def run(optimizer_cls: Any) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(1)
        tensors = [
            torch.randn(6, generator=generator, dtype=dtype) for dtype in (torch.float32, torch.float64)
        ]
        tensors = [t.requires_grad_() for t in tensors]
        optimizer = optimizer_cls(tensors, lr=0.1, momentum=0.9, weight_decay=1e-4)
        for _ in range(3):
            for tensor in tensors:
                tensor.grad = torch.randn(6, generator=generator, dtype=tensor.dtype)
            optimizer.step()
        return tensors

    for got, expected in zip(run(LARS), run(reference_lars), strict=True):
        assert got.dtype == expected.dtype
        torch.testing.assert_close(got.detach(), expected.detach(), rtol=1e-6, atol=1e-7)


def test_bfloat16_parameters_take_steps_close_to_float32() -> None:
    low, _, _ = simclr_pair(LARS, torch.bfloat16)
    high, _, _ = simclr_pair(LARS, torch.float32)
    for optimizer in (low, high):
        simclr_step(optimizer, *(p for g in optimizer.param_groups for p in g["params"]))
    for got, expected in zip(low.param_groups, high.param_groups, strict=True):
        torch.testing.assert_close(got["params"][0].float(), expected["params"][0], rtol=1e-2, atol=0)


def test_a_tensor_without_grad_is_left_alone() -> None:
    used = torch.ones(3, requires_grad=True)
    unused = torch.ones(3, requires_grad=True)
    optimizer = LARS([used, unused], lr=0.1, momentum=0.9)
    used.grad = torch.ones(3)
    optimizer.step()
    assert torch.equal(unused, torch.ones(3))
    assert unused not in optimizer.state
    assert "momentum_buffer" in optimizer.state[used]


def test_no_momentum_keeps_no_state() -> None:
    weight = torch.ones(3, requires_grad=True)
    optimizer = LARS([weight], lr=0.1)
    weight.grad = torch.ones(3)
    optimizer.step()
    assert not optimizer.state


@pytest.mark.parametrize("nesterov", [False, True])
def test_a_step_never_reads_a_value_back(monkeypatch: pytest.MonkeyPatch, nesterov: bool) -> None:
    """No ``.item()``-style read of a norm or trust ratio: on a GPU each would wait for the device."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a tensor value was read on the host")

    optimizer = LARS(
        [{"params": [torch.randn(3, 4), torch.randn(5)]}, {"params": [torch.randn(2)], **EXCLUDED}],
        lr=0.1,
        momentum=0.9,
        weight_decay=1e-4,
        nesterov=nesterov,
    )
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    for _ in range(2):  # creates the buffers, then updates them
        for param in params:
            param.grad = torch.ones_like(param)
        optimizer.step()
    assert all("momentum_buffer" in optimizer.state[p] for p in params)


def test_groups_with_equal_settings_are_stepped_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """paramwise_cfg makes one group per tensor: those that agree share the multi-tensor calls."""
    calls: list[int] = []
    norm = torch._foreach_norm

    def counting_norm(tensors: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(tensors))
        return norm(tensors, *args, **kwargs)

    monkeypatch.setattr(torch, "_foreach_norm", counting_norm)
    tensors = [torch.randn(3, requires_grad=True) for _ in range(6)]
    groups = [{"params": [t]} for t in tensors[:4]] + [{"params": [t], **EXCLUDED} for t in tensors[4:]]
    optimizer = LARS(groups, **SIMCLR)
    for tensor in tensors:
        tensor.grad = torch.randn(3)
    optimizer.step()
    assert calls == [4, 4]  # weights and grads of the four LARS tensors; none for the excluded


def test_state_dict_round_trip_continues_exactly(tmp_path: Any) -> None:
    def continued(steps_before: int, reload: bool) -> torch.Tensor:
        optimizer, conv, bn = simclr_pair(LARS)
        for _ in range(steps_before):
            simclr_step(optimizer, conv, bn)
        if reload:
            buffer = io.BytesIO()
            torch.save(optimizer.state_dict(), buffer)
            buffer.seek(0)
            state = torch.load(buffer, weights_only=True)
            optimizer = LARS([{"params": [conv]}, {"params": [bn], **EXCLUDED}], **SIMCLR)
            optimizer.load_state_dict(state)
            assert optimizer.param_groups[1]["lars_exclude"] is True
        for _ in range(2):
            simclr_step(optimizer, conv, bn)
        return torch.cat([conv.detach(), bn.detach()])

    assert torch.equal(continued(2, reload=True), continued(2, reload=False))
    assert not torch.equal(continued(2, reload=True), continued(0, reload=False))


def test_closure_is_called_with_grad_enabled_and_its_loss_returned() -> None:
    weight = torch.tensor([1.0, 2.0], requires_grad=True)
    optimizer = LARS([weight], lr=0.1, momentum=0.9)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (weight**2).sum()
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert loss is not None and loss.item() == 5.0
    assert not torch.equal(weight.detach(), torch.tensor([1.0, 2.0]))


def test_sparse_gradients_are_refused() -> None:
    weight = torch.ones(3, requires_grad=True)
    weight.grad = torch.ones(3).to_sparse()
    with pytest.raises(RuntimeError, match="LARS does not support sparse gradients"):
        LARS([weight], lr=0.1).step()


def test_defaults_are_mmpretrain_s() -> None:
    optimizer = LARS([torch.ones(1, requires_grad=True)], lr=0.1)
    assert optimizer.defaults == {
        "lr": 0.1,
        "momentum": 0,
        "dampening": 0,
        "weight_decay": 0,
        "nesterov": False,
        "eta": 0.001,
    }
    assert optimizer.eps == 1e-8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -0.1}, "lr must be >= 0, got -0.1"),  # MMPretrain lets a negative float through
        ({"lr": -1}, "lr must be >= 0, got -1"),
        ({"momentum": -0.9}, "momentum must be >= 0, got -0.9"),
        ({"weight_decay": -1e-4}, "weight_decay must be >= 0, got -0.0001"),
        ({"eta": -0.001}, "eta must be >= 0, got -0.001"),
        (
            {"nesterov": True},
            "nesterov = true needs momentum > 0 and dampening = 0, got momentum 0 and dampening 0",
        ),
        (
            {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
            "nesterov = true needs momentum > 0 and dampening = 0, got momentum 0.9 and dampening 0.1",
        ),
    ],
)
def test_bad_arguments_are_one_line_value_errors(kwargs: dict[str, Any], message: str) -> None:
    arguments = {"lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.") + "$"):
        LARS([torch.ones(1, requires_grad=True)], **arguments)


def test_a_zero_lr_is_accepted() -> None:
    LARS([torch.ones(1, requires_grad=True)], lr=0.0)
