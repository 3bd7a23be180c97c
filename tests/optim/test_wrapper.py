"""OptimWrapper: accumulation over the whole run, no_sync, clipping, lr/momentum and state."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn

from customrun_core.errors import ConfigError
from customrun_core.optim import OptimWrapper
from customrun_core.schedulers import StepLR

INPUTS = torch.linspace(-1.0, 1.0, 20).reshape(10, 2)
TARGETS = torch.linspace(0.5, -0.5, 10).reshape(10, 1)


def make_model() -> nn.Linear:
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.3, -0.2]]))
        model.bias.fill_(0.1)
    return model


def loss_at(model: nn.Module, i: int) -> torch.Tensor:
    return ((model(INPUTS[i : i + 1]) - TARGETS[i : i + 1]) ** 2).sum()


def params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize(
    ("accumulative_counts", "max_counts", "divisors", "step_counts"),
    [
        # [ran] MMEngine 0.10.7: 5 iterations a epoch, 2 epochs, the tail of the whole run divides by 1
        (3, 10, [3, 3, 3, 3, 3, 3, 3, 3, 3, 1], [3, 6, 9, 10]),
        (4, 10, [4, 4, 4, 4, 4, 4, 4, 4, 2, 2], [4, 8, 10]),
        (2, 10, [2] * 10, [2, 4, 6, 8, 10]),
        (1, 10, [1] * 10, list(range(1, 11))),
        (3, -1, [3] * 10, [3, 6, 9]),  # max_counts unknown: used outside the runner
    ],
)
def test_accumulation_matches_a_plain_torch_loop(
    accumulative_counts: int, max_counts: int, divisors: list[int], step_counts: list[int]
) -> None:
    """Same parameters after every iteration as summing loss/divisor gradients by hand and
    stepping at the given counts."""
    model = make_model()
    reference = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    wrapper = OptimWrapper(optimizer, accumulative_counts=accumulative_counts)
    if max_counts != -1:
        wrapper.initialize_count_status(model, 0, max_counts)
    stepped_at: list[int] = []
    optimizer.register_step_post_hook(lambda *_: stepped_at.append(wrapper.inner_count))
    for i in range(10):
        wrapper.update_params(loss_at(model, i))
        (loss_at(reference, i) / divisors[i]).backward()
        if i + 1 in step_counts:
            reference_optimizer.step()
            reference_optimizer.zero_grad()
        for got, want in zip(params(model), params(reference), strict=True):
            assert torch.equal(got, want), f"iteration {i}"
    assert stepped_at == step_counts


@pytest.mark.parametrize(
    ("accumulative_counts", "init_counts", "max_counts", "divisors"),
    [
        (3, 0, 10, [3, 3, 3, 3, 3, 3, 3, 3, 3, 1]),
        (3, 6, 10, [3, 3, 3, 1]),  # resumed at iteration 6: the same tail
        (3, 0, -1, [3, 3, 3, 3]),
        (1, 0, 10, [1, 1, 1]),
    ],
)
def test_scale_loss_divisors(
    accumulative_counts: int, init_counts: int, max_counts: int, divisors: list[int]
) -> None:
    wrapper = OptimWrapper(torch.optim.SGD(make_model().parameters(), lr=0.1), accumulative_counts)
    if max_counts != -1:
        wrapper.initialize_count_status(None, init_counts, max_counts)
    got = []
    for _ in divisors:
        loss = torch.tensor(6.0, requires_grad=True)
        got.append(6.0 / wrapper.scale_loss(loss).item())
        wrapper.backward(loss)
    assert got == pytest.approx(divisors)


class NoSyncModel(nn.Linear):
    """A module with DDP's ``no_sync`` that records whether each forward ran inside it."""

    def __init__(self) -> None:
        super().__init__(2, 1)
        self.syncing = True
        self.forwards: list[bool] = []

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        self.syncing = False
        try:
            yield
        finally:
            self.syncing = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forwards.append(self.syncing)
        return super().forward(x)


@pytest.mark.parametrize(
    ("accumulative_counts", "max_counts", "synced"),
    [
        (3, 10, [False, False, True, False, False, True, False, False, True, True]),
        (4, 10, [False, False, False, True, False, False, False, True, False, True]),
        (3, -1, [False, False, True, False, False, True, False, False, True, False]),
        (1, 10, [True] * 10),
    ],
)
def test_optim_context_skips_sync_exactly_on_accumulation_steps(
    accumulative_counts: int, max_counts: int, synced: list[bool]
) -> None:
    model = NoSyncModel()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts)
    if max_counts != -1:
        wrapper.initialize_count_status(model, 0, max_counts)
    for i in range(10):
        with wrapper.optim_context(model):
            loss = loss_at(model, i)
        wrapper.update_params(loss)
    assert model.forwards == synced


def test_optim_context_without_no_sync_just_runs() -> None:
    model = make_model()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=3)
    with wrapper.optim_context(model):
        loss = loss_at(model, 0)
    wrapper.update_params(loss)
    assert wrapper.inner_count == 1


def single_param(grad: list[float]) -> nn.Parameter:
    param = nn.Parameter(torch.zeros(len(grad)))
    param.grad = torch.tensor(grad)
    return param


def test_clip_by_norm_logs_the_norm_before_clipping() -> None:
    """[ran] grad (3, 4), max_norm 1: logged 5.0 and the gradient scaled to (0.6, 0.8)."""
    param = single_param([3.0, 4.0])
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=1.0), clip_grad={"type": "norm", "max_norm": 1.0})
    wrapper.step()
    assert wrapper.last_grad_norm is not None
    assert wrapper.last_grad_norm.item() == pytest.approx(5.0)
    assert param.grad.tolist() == pytest.approx([0.6, 0.8], rel=1e-5)
    assert param.detach().tolist() == pytest.approx([-0.6, -0.8], rel=1e-5)


def test_clip_by_norm_defaults_to_type_norm_and_takes_norm_type() -> None:
    param = single_param([3.0, -4.0])
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=1.0), clip_grad={"max_norm": 2.0, "norm_type": 1.0})
    wrapper.step()
    assert wrapper.last_grad_norm.item() == pytest.approx(7.0)
    assert param.grad.tolist() == pytest.approx([6 / 7, -8 / 7], rel=1e-5)


def test_clip_below_the_max_norm_leaves_the_gradient() -> None:
    param = single_param([0.3, 0.4])
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=1.0), clip_grad={"max_norm": 1.0})
    wrapper.step()
    assert wrapper.last_grad_norm.item() == pytest.approx(0.5)
    assert param.grad.tolist() == pytest.approx([0.3, 0.4])


def test_clip_by_value() -> None:
    param = single_param([3.0, -4.0, 0.5])
    clip_grad = {"type": "value", "clip_value": 1.0}
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=1.0), clip_grad=clip_grad)
    wrapper.step()
    assert param.grad.tolist() == [1.0, -1.0, 0.5]
    assert wrapper.last_grad_norm is None
    assert clip_grad == {"type": "value", "clip_value": 1.0}  # the user's table is not mutated


def test_clip_grads_is_public_and_clips_without_stepping() -> None:
    """A subclass that steps its own way clips through ``clip_grads``: (3, 4) by norm 1 is (0.6, 0.8)."""
    param = single_param([3.0, 4.0])
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=1.0), clip_grad={"max_norm": 1.0})
    wrapper.clip_grads()
    assert param.grad.tolist() == pytest.approx([0.6, 0.8], rel=1e-5)
    assert param.detach().tolist() == [0.0, 0.0]  # not stepped
    assert wrapper.last_grad_norm.item() == pytest.approx(5.0)
    unclipped = single_param([3.0, 4.0])
    OptimWrapper(torch.optim.SGD([unclipped], lr=1.0)).clip_grads()  # no clip_grad: nothing happens
    assert unclipped.grad.tolist() == [3.0, 4.0]


def test_clipping_skips_params_without_gradients() -> None:
    param = nn.Parameter(torch.ones(2))
    wrapper = OptimWrapper(torch.optim.SGD([param], lr=1.0), clip_grad={"max_norm": 1.0})
    wrapper.step()
    assert wrapper.last_grad_norm is None
    assert param.detach().tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    ("clip_grad", "key"),
    [
        ({"type": "l2", "max_norm": 1.0}, "clip_grad.type"),
        ({"type": "norm"}, "clip_grad.max_norm"),
        ({"type": "value", "max_norm": 1.0}, "clip_grad.clip_value"),
    ],
)
def test_bad_clip_grad_is_a_config_error(clip_grad: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        OptimWrapper(torch.optim.SGD(make_model().parameters(), lr=0.1), clip_grad=clip_grad)
    assert info.value.key == key


@pytest.mark.parametrize("accumulative_counts", [0, -2])
def test_accumulative_counts_must_be_positive(accumulative_counts: int) -> None:
    with pytest.raises(ConfigError) as info:
        OptimWrapper(torch.optim.SGD(make_model().parameters(), lr=0.1), accumulative_counts)
    assert info.value.key == "accumulative_counts"


@pytest.mark.parametrize(
    ("make_optimizer", "lr", "momentum"),
    [
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), [0.1], [0.9]),
        (lambda p: torch.optim.SGD(p, lr=0.1), [0.1], [0.0]),
        (lambda p: torch.optim.Adam(p, lr=0.001, betas=(0.8, 0.99)), [0.001], [0.8]),
        (lambda p: torch.optim.AdamW(p, lr=0.002), [0.002], [0.9]),
        (lambda p: torch.optim.Adagrad(p, lr=0.01), [0.01], [0.0]),
        (
            lambda p: torch.optim.SGD(
                [{"params": p[:1]}, {"params": p[1:], "lr": 0.5, "momentum": 0.1}], 0.2, 0.7
            ),
            [0.2, 0.5],
            [0.7, 0.1],
        ),
    ],
)
def test_get_lr_and_get_momentum(
    make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
    lr: list[float],
    momentum: list[float],
) -> None:
    wrapper = OptimWrapper(make_optimizer(list(make_model().parameters())))
    assert wrapper.get_lr()["lr"] == lr
    assert wrapper.get_momentum() == {"momentum": momentum}
    if len(lr) == 1:
        assert "base_lr" not in wrapper.get_lr()
        assert wrapper.param_groups is wrapper.optimizer.param_groups


def test_several_groups_add_a_scheduled_base_group_as_mmengine() -> None:
    """The pseudo group holds the optimizer's defaults; schedulers scale it like the real groups."""
    params = list(make_model().parameters())
    optimizer = torch.optim.SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], lr=0.2)
    wrapper = OptimWrapper(optimizer)
    assert len(wrapper.param_groups) == 3
    assert wrapper.get_lr() == {"lr": [0.2, 0.5], "base_lr": [0.2]}
    scheduler = StepLR(wrapper, step_size=1, gamma=0.5, by_epoch=False)
    scheduler.step()
    assert wrapper.get_lr() == {"lr": [0.1, 0.25], "base_lr": [0.1]}
    state = wrapper.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    restored = OptimWrapper(torch.optim.SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.2))
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.get_lr() == {"lr": [0.1, 0.25], "base_lr": [0.1]}


def test_state_dict_is_the_optimizers_and_round_trips() -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    wrapper = OptimWrapper(optimizer)
    for i in range(2):
        wrapper.update_params(loss_at(model, i))
    state = wrapper.state_dict()
    assert state.keys() == optimizer.state_dict().keys()
    assert state["param_groups"] == optimizer.state_dict()["param_groups"]

    buffer = io.BytesIO()  # through a checkpoint, so the two optimizers share no tensors
    torch.save(state, buffer)
    buffer.seek(0)
    clone = copy.deepcopy(model)
    resumed = OptimWrapper(torch.optim.SGD(clone.parameters(), lr=0.5))
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.get_lr() == {"lr": [0.1]}
    for key, buffers in optimizer.state_dict()["state"].items():
        assert torch.equal(resumed.state_dict()["state"][key]["momentum_buffer"], buffers["momentum_buffer"])
    wrapper.update_params(loss_at(model, 2))
    resumed.update_params(loss_at(clone, 2))
    for got, want in zip(params(clone), params(model), strict=True):
        assert torch.equal(got, want)
