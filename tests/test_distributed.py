"""customrun_core.distributed and .parallel in one process: config checks, sharding, the wrappers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import distributed as dist

from customrun_core import distributed, is_model_wrapper, parallel, unwrap_model
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
        ({"model_wrapper_cfg": {"find_unused_parameter": True}},
         "model_wrapper_cfg.find_unused_parameter: .*did you mean 'find_unused_parameters'"),
        ({"dist_cfg": {"backend": "nccll"}}, "dist_cfg.backend: expected one of 'nccl', 'gloo'"),
        ({"dist_cfg": {"timeout": "10"}}, "dist_cfg.timeout: expected an integer"),
        ({"model_wrapper_cfg": {"type": "FSPD"}}, "model_wrapper_cfg.type: .*did you mean 'FSDP'"),
        ({"model_wrapper_cfg": {"type": "FSDP", "param_dtype": "fp16"}}, "param_dtype: expected one of 'float32'"),
        ({"sync_bn": "mmcv"}, "sync_bn: expected a boolean or 'torch'"),
    ],
)  # fmt: skip
def test_bad_distributed_settings_are_config_errors(
    customrun_isolated: None, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Runner.from_config(tiny_config(**changes), device="cpu")


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
    wrapped = parallel.DDP(model, torch.device("cpu"))
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


def _bn_config(**changes: Any) -> dict[str, Any]:
    cfg = tiny_config(launcher="torchrun", **changes)
    cfg["model"]["backbone"] = {"type": "torch.nn:BatchNorm1d", "num_features": 64}
    return cfg


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"model_wrapper_cfg": {"type": "FSDP", "shard_modules": ["Linaer"]}},
         r"model_wrapper_cfg\.shard_modules: the model has no submodule of class 'Linaer' \(did you mean 'Linear'"),
        ({"model_wrapper_cfg": {"type": "FSDP"}, "optim_wrapper": {"backbone": {"optimizer": {"type": "SGD", "lr": 0.1}}}},
         "optim_wrapper: one optim wrapper per submodule is not supported with FSDP"),
        ({"sync_bn": True}, "sync_bn: SyncBatchNorm runs only on GPUs"),
    ],
    ids=["shard-modules", "per-submodule-optim", "sync-bn-on-cpu"],
)  # fmt: skip
def test_wrapper_settings_checked_when_the_group_exists(
    torchrun_env: None, changes: dict[str, Any], message: str
) -> None:
    cfg = tiny_config(launcher="torchrun", **changes)
    with pytest.raises(ConfigError, match=message):
        Runner.from_config(cfg, device="cpu").train()


def test_fsdp_in_a_group_of_one_trains_like_no_wrapper(torchrun_env: None, customrun_run: Any) -> None:
    sharded = customrun_run(
        launcher="torchrun", model_wrapper_cfg={"type": "FSDP", "shard_modules": ["Linear"]}
    )
    assert parallel.is_sharded(sharded.runner.model) and not is_model_wrapper(sharded.runner.model)
    assert sharded.runner.world_size == 1 and distributed.is_initialized()  # kept for test()
    assert sharded.runner.test()["accuracy/top1"] > 50.0
    assert (sharded.work_dir / "epoch_1.dcp" / ".metadata").is_file()
    plain = customrun_run(work_dir="plain")
    weights = {k: v.full_tensor() for k, v in sharded.runner.model.state_dict().items()}
    for name, value in plain.runner.model.state_dict().items():
        torch.testing.assert_close(weights[name], value, rtol=1e-6, atol=1e-7)


def test_a_sharded_checkpoint_loads_into_an_unsharded_model(torchrun_env: None, customrun_run: Any) -> None:
    """load_from a .dcp directory without any process group: DCP reads it on one process."""
    sharded = customrun_run(launcher="torchrun", model_wrapper_cfg={"type": "FSDP"})
    expected = {k: v.full_tensor() for k, v in sharded.runner.model.state_dict().items()}
    loaded = customrun_run(mode="val", work_dir="val", load_from=str(sharded.work_dir / "epoch_1.dcp"))
    for name, value in loaded.runner.model.state_dict().items():
        assert torch.equal(value, expected[name])
    assert loaded.metrics == sharded.metrics


def test_fsdp_skips_gradient_sync_on_accumulation_steps() -> None:
    calls: list[bool] = []

    class Sharded:
        def set_requires_gradient_sync(self, flag: bool) -> None:
            calls.append(flag)

    optim_wrapper = OptimWrapper(
        torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1), accumulative_counts=3
    )
    optim_wrapper.initialize_count_status(None, 0, 6)
    for _ in range(6):
        with optim_wrapper.optim_context(Sharded()):
            pass
        optim_wrapper.update_params(optim_wrapper.optimizer.param_groups[0]["params"][0].sum())
    assert calls == [False, False, True, False, False, True]
