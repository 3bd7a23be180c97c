"""The Runner: loop selection, checkpoints loaded and resumed, hooks around loading."""

from __future__ import annotations

import json

import pytest
import torch

from customrun_core import Hook, Runner, register
from customrun_core.errors import ConfigError
from customrun_core.loops import IterBasedTrainLoop
from customrun_core.testing import tiny_config


def test_by_epoch_false_picks_the_iteration_loop() -> None:
    runner = Runner.from_config(tiny_config(train_cfg={"by_epoch": False, "max_iters": 3}))
    runner.train()
    assert isinstance(runner.train_loop, IterBasedTrainLoop)
    assert runner.iter == 3 and runner.epoch == 0


def test_type_and_by_epoch_together_are_refused() -> None:
    cfg = tiny_config(train_cfg={"type": "EpochBasedTrainLoop", "by_epoch": True, "max_epochs": 1})
    with pytest.raises(ConfigError, match=r"train_cfg\.by_epoch: give either type or by_epoch, not both"):
        Runner.from_config(cfg)


@register("hooks", "ZeroWeightsOnLoad", force=True)
class ZeroWeightsOnLoad(Hook):
    """Rewrites the checkpoint's weights, as EMAHook swaps in its averaged weights."""

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        checkpoint["state_dict"] = {k: torch.zeros_like(v) for k, v in checkpoint["state_dict"].items()}


def test_after_load_checkpoint_may_change_what_is_loaded(tmp_path) -> None:
    trained = Runner.from_config(tiny_config(work_dir=str(tmp_path / "a")))
    trained.train()
    cfg = tiny_config(
        work_dir=str(tmp_path / "b"),
        load_from=str(tmp_path / "a" / "epoch_1.pt"),
        custom_hooks=[{"type": "ZeroWeightsOnLoad"}],
    )
    runner = Runner.from_config(cfg)
    runner.test()
    assert all(torch.count_nonzero(p) == 0 for p in runner.model.parameters())


def test_resume_continues_from_the_last_checkpoint(tmp_path) -> None:
    work = str(tmp_path / "run")
    Runner.from_config(tiny_config(work_dir=work, train_cfg={"max_epochs": 2})).train()
    first = torch.load(tmp_path / "run" / "epoch_2.pt", weights_only=True)
    resumed = Runner.from_config(tiny_config(work_dir=work, train_cfg={"max_epochs": 3}, resume=True))
    resumed.train()
    assert resumed.epoch == 3
    assert resumed.iter == 3 * len(resumed.train_dataloader)
    assert first["meta"]["epoch"] == 2
    assert (tmp_path / "run" / "last_checkpoint").read_text() == "epoch_3.pt"


def test_a_fresh_resume_without_checkpoints_trains_from_scratch(tmp_path) -> None:
    runner = Runner.from_config(tiny_config(work_dir=str(tmp_path / "new"), resume=True))
    runner.train()
    assert runner.epoch == 1


def test_grad_norm_before_clipping_reaches_scalars(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The logged grad_norm is the norm of the gradients as they were before clipping, computed here
    independently (torch.linalg over every gradient) at the moment clipping starts."""
    seen: list[float] = []
    clip = torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters, *args, **kwargs):
        parameters = list(parameters)
        seen.append(float(torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in parameters]))))
        return clip(parameters, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
    cfg = tiny_config(
        work_dir=str(tmp_path / "clip"),
        optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.1}, "clip_grad": {"max_norm": 1e-3}},
        default_hooks={"logger": {"interval": 1}},
    )
    Runner.from_config(cfg).train()
    records = [json.loads(line) for line in (tmp_path / "clip" / "scalars.jsonl").read_text().splitlines()]
    logged = [r["grad_norm"] for r in records if r["mode"] == "train"]
    assert logged == pytest.approx(seen, rel=1e-5)
    assert min(logged) > 1e-3  # the norm before clipping, not the clipped one


def test_resuming_after_an_epoch_ends_with_the_same_weights(tmp_path) -> None:
    """Same batches in the same order, same optimizer state: bit-identical weights on the CPU."""
    full = Runner.from_config(tiny_config(work_dir=str(tmp_path / "full"), train_cfg={"max_epochs": 2}))
    full.train()
    cut = str(tmp_path / "cut")
    Runner.from_config(tiny_config(work_dir=cut, train_cfg={"max_epochs": 1})).train()
    resumed = Runner.from_config(tiny_config(work_dir=cut, train_cfg={"max_epochs": 2}, resume=True))
    resumed.train()
    for (name, a), b in zip(
        full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), name
