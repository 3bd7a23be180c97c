"""customrun_core.distributed in one process: config checks, sharding and the DDP wrapper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import distributed as dist

from customrun_core import distributed, is_model_wrapper, unwrap_model
from customrun_core.datasets.loader import ShardSampler
from customrun_core.errors import ConfigError
from customrun_core.models.classifier import ClassifierModel
from customrun_core.models.mlp import MLP
from customrun_core.optim.wrapper import OptimWrapper
from customrun_core.runner import Runner
from customrun_core.testing import tiny_config


def test_the_launcher_is_detected_from_world_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.resolve_launcher(None) == "none"
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.resolve_launcher(None) == "torchrun"
    assert distributed.resolve_launcher("none") == "none"


def test_torchrun_launcher_without_torchrun_is_a_one_line_error(
    customrun_isolated: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ConfigError, match=r"^<config>: launcher: expected RANK and WORLD_SIZE"):
        Runner.from_config(tiny_config(launcher="torchrun"), device="cpu")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_wrapper_cfg": {"find_unused_parameter": True}}, "model_wrapper_cfg.find_unused_parameter: "),
        ({"dist_cfg": {"backend": "nccll"}}, "dist_cfg.backend: expected one of 'nccl', 'gloo'"),
        ({"dist_cfg": {"timeout": "10"}}, "dist_cfg.timeout: expected an integer"),
    ],
)
def test_bad_distributed_settings_are_config_errors(
    customrun_isolated: None, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        Runner.from_config(tiny_config(**changes), device="cpu")
    if "model_wrapper_cfg" in changes:
        assert "find_unused_parameters" in str(caught.value)


def test_evaluation_shards_cover_every_sample_once() -> None:
    shards = [list(ShardSampler(359, rank, 2)) for rank in (0, 1)]
    assert (len(shards[0]), len(shards[1])) == (180, 179)
    assert sorted(shards[0] + shards[1]) == list(range(359))


@pytest.fixture
def process_group() -> Iterator[None]:
    """A one-process Gloo group (DDP's reducer still all-reduces, over one process)."""
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    try:
        yield
    finally:
        distributed.teardown()


class _OwnStep(ClassifierModel):
    def train_step(self, data_batch: Any, optim_wrapper: Any) -> dict[str, torch.Tensor]:
        loss = self(*data_batch, mode="loss")["loss"]
        optim_wrapper.update_params(loss)
        return {"loss": loss.detach()}


@pytest.mark.parametrize("model_class", [ClassifierModel, _OwnStep])
def test_accumulation_steps_skip_the_all_reduce(process_group: None, model_class: type) -> None:
    model = model_class(MLP(in_features=4, num_classes=3, hidden_features=[]))
    wrapped = distributed.wrap_model(model, torch.device("cpu"), {})
    reductions: list[int] = []

    # DDP checks the annotations at run time, which postponed (string) annotations fail.
    def count(state, bucket):
        reductions.append(bucket.index())
        future: torch.futures.Future[torch.Tensor] = torch.futures.Future()
        future.set_result(bucket.buffer())
        return future

    wrapped.register_comm_hook(None, count)
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)
    optim_wrapper.initialize_count_status(wrapped, 0, 4)
    batch = (torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))
    for _ in range(4):
        assert "loss" in wrapped.train_step(batch, optim_wrapper)
    assert len(reductions) == 2  # iterations 2 and 4 only
    assert is_model_wrapper(wrapped) and unwrap_model(wrapped) is model
    assert "forward" not in vars(model)  # the routing is undone after each step
