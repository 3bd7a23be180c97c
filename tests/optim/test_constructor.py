"""``build_optim_wrapper`` and DefaultOptimWrapperConstructor against optimizers built by hand."""

from __future__ import annotations

import copy
import inspect
from typing import Any

import pytest
import torch
from torch import nn

from customrun_core.errors import ComponentError, ConfigError
from customrun_core.optim import DefaultOptimWrapperConstructor, OptimWrapper, build_optim_wrapper

TORCH_OPTIMIZERS = sorted(
    name
    for name, obj in vars(torch.optim).items()
    if isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer) and obj is not torch.optim.Optimizer
)


def make_model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))


def train_step(model: nn.Module, optimizer: Any) -> None:
    x = torch.linspace(-1.0, 1.0, 15).reshape(5, 3)
    model(x).square().mean().backward()
    optimizer.step()
    optimizer.zero_grad()


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": True}),
        ("Adam", {"lr": 0.01, "betas": [0.8, 0.99]}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.05}),
        ("RMSprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5}),
        ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ],
)
def test_one_step_equals_the_torch_optimizer_built_by_hand(name: str, kwargs: dict) -> None:
    """Bit-identical parameters after two steps (so momentum/moment state is exercised too)."""
    model = make_model()
    reference = copy.deepcopy(model)
    wrapper = build_optim_wrapper(model, {"optimizer": {"type": name, **kwargs}})
    by_hand = getattr(torch.optim, name)(reference.parameters(), **kwargs)
    assert isinstance(wrapper, OptimWrapper)
    assert type(wrapper.optimizer) is type(by_hand)
    for _ in range(2):
        wrapper.update_params(model(torch.linspace(-1.0, 1.0, 15).reshape(5, 3)).square().mean())
        train_step(reference, by_hand)
    for got, want in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(got, want)


@pytest.mark.parametrize("name", TORCH_OPTIMIZERS)
def test_every_torch_optimizer_resolves_and_gets_the_parameters(name: str) -> None:
    """By class name; the model's parameters reach the optimizer's first parameter."""
    model = nn.Linear(2, 2, bias=False)  # 2-D only, for Muon
    wrapper = build_optim_wrapper(model, {"optimizer": {"type": name}})
    cls = getattr(torch.optim, name)
    assert type(wrapper.optimizer) is cls
    assert next(iter(inspect.signature(cls).parameters)) == "params"
    assert wrapper.optimizer.param_groups[0]["params"] == [model.weight]


@pytest.mark.parametrize(("name", "suggestion"), [("Adamw", "AdamW"), ("SDG", "SGD"), ("RMSProp", "RMSprop")])
def test_unknown_optimizer_suggests_the_closest(name: str, suggestion: str) -> None:
    with pytest.raises(ComponentError, match=f"unknown optimizer {name!r}") as info:
        build_optim_wrapper(make_model(), {"optimizer": {"type": name, "lr": 0.1}})
    assert info.value.key == "optimizer.type"
    assert info.value.suggestions[0] == suggestion


@pytest.mark.parametrize("type_name", ["torch.optim:SGD", "torch.optim.SGD"])
def test_import_path_names_an_optimizer(type_name: str) -> None:
    wrapper = build_optim_wrapper(
        make_model(), {"optimizer": {"type": type_name, "lr": 0.1, "momentum": 0.9}}
    )
    assert type(wrapper.optimizer) is torch.optim.SGD
    assert wrapper.get_momentum() == {"momentum": [0.9]}


@pytest.mark.parametrize(
    "constructor", ["DefaultOptimWrapperConstructor", {"type": "DefaultOptimWrapperConstructor"}]
)
def test_explicit_default_constructor(constructor: Any) -> None:
    model = make_model()
    cfg = {"constructor": constructor, "optimizer": {"type": "SGD", "lr": 0.1}, "accumulative_counts": 2}
    wrapper = build_optim_wrapper(model, cfg)
    assert wrapper.accumulative_counts == 2
    assert wrapper.optimizer.param_groups[0]["params"] == list(model.parameters())
    assert cfg["constructor"] == constructor  # the caller's config is not consumed


class RecordingConstructor(DefaultOptimWrapperConstructor):
    """Remembers the model its ``parameters`` hook receives."""

    seen: list[nn.Module] = []

    def parameters(self, model: nn.Module) -> Any:
        self.seen.append(model)
        return super().parameters(model)


@pytest.mark.parametrize("wraps", [1, 2])
def test_data_parallel_is_unwrapped_first(wraps: int) -> None:
    """A DataParallel (CPU: no devices) model reaches the constructor as the inner module."""
    model = make_model()
    wrapped: nn.Module = model
    for _ in range(wraps):
        wrapped = nn.DataParallel(wrapped)
    RecordingConstructor.seen = []
    cfg = {"constructor": {"type": RecordingConstructor}, "optimizer": {"type": "SGD", "lr": 0.1}}
    wrapper = build_optim_wrapper(wrapped, cfg)
    assert RecordingConstructor.seen == [model]
    assert wrapper.optimizer.param_groups[0]["params"] == list(model.parameters())


@pytest.mark.parametrize(
    ("cfg", "key", "suggestion"),
    [
        ({"optimizer": {"type": "SGD", "lrr": 0.1}}, "optimizer.lrr", "lr"),
        (
            {"optimizer": {"type": "SGD", "lr": 0.1}, "acumulative_counts": 2},
            "acumulative_counts",
            "accumulative_counts",
        ),
        (
            {"optimizer": {"type": "SGD", "lr": 0.1}, "constructor": "DefaultConstructor"},
            "constructor.type",
            None,
        ),
        ({"optimizer": {"type": "SGD", "lr": "0.1"}}, "optimizer.lr", None),
        ({"optimizer": {"type": "SGD", "lr": -1.0}}, "optimizer.lr", None),
        ({"optimizer": {"type": "SGD", "lr": 0.1}, "clip_grad": {"type": "l2"}}, "clip_grad.type", None),
        ({"accumulative_counts": 2}, "optimizer", None),
    ],
)
def test_config_errors_name_their_key(cfg: dict, key: str, suggestion: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        build_optim_wrapper(make_model(), cfg)
    assert info.value.key == key
    if suggestion is not None:
        assert info.value.suggestions[0] == suggestion
