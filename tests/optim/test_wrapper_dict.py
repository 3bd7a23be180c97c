"""Several optimizers (GAN-style): one wrapper per submodule, each with its own schedulers."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from customrun_core import Runner, register
from customrun_core.errors import ConfigError
from customrun_core.optim import OptimWrapperDict
from customrun_core.optim.wrapper_dict import build_optim_wrapper_dict
from customrun_core.testing import tiny_config


@register("models", "TwoPartNet", force=True)
class TwoPartNet(nn.Module):
    """A 'generator' and a 'discriminator', each stepped by its own optimizer in train_step."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Linear(64, 10)
        self.discriminator = nn.Linear(64, 10)

    def train_step(self, data_batch, optim_wrapper):
        x, y = data_batch
        logs = {}
        for name in ("generator", "discriminator"):
            wrapper = optim_wrapper[name]
            with wrapper.optim_context(self):
                loss = nn.functional.cross_entropy(getattr(self, name)(x), y)
            wrapper.update_params(loss)
            logs[f"loss_{name[0]}"] = loss.detach()
        return logs

    def val_step(self, data_batch):
        return self.generator(data_batch[0])

    test_step = val_step


def gan_config(**changes) -> dict:
    return tiny_config(
        model={"type": "TwoPartNet"},
        optim_wrapper={
            "generator": {"optimizer": {"type": "SGD", "lr": 0.1}},
            "discriminator": {"optimizer": {"type": "Adam", "lr": 0.01}},
        },
        **changes,
    )


def test_each_submodule_gets_its_own_optimizer_and_schedule() -> None:
    cfg = gan_config(
        param_scheduler={
            "generator": {"type": "MultiStepLR", "milestones": [1], "gamma": 0.5},
            "discriminator": [{"type": "ConstantLR", "factor": 0.5, "by_epoch": False, "end": 3}],
        },
        train_cfg={"max_epochs": 2},
    )
    runner = Runner.from_config(cfg)
    runner.train()
    wrappers = runner.optim_wrapper
    assert isinstance(wrappers, OptimWrapperDict)
    generator = {id(p) for p in runner.model.generator.parameters()}
    assert {id(p) for g in wrappers["generator"].optimizer.param_groups for p in g["params"]} == generator
    assert isinstance(wrappers["discriminator"].optimizer, torch.optim.Adam)
    # MultiStepLR with milestone 1 halved the generator's lr after the first epoch; ConstantLR
    # restored the discriminator's after 3 iterations.
    assert wrappers.get_lr() == {"generator.lr": [0.05], "discriminator.lr": [0.01]}
    assert set(runner.param_schedulers) == {"generator", "discriminator"}


def test_one_schedule_applies_to_every_member() -> None:
    runner = Runner.from_config(gan_config(param_scheduler=[{"type": "MultiStepLR", "milestones": [1]}]))
    runner.train()
    assert runner.optim_wrapper.get_lr() == {"generator.lr": [0.1], "discriminator.lr": [0.01]}
    runner = Runner.from_config(
        gan_config(param_scheduler=[{"type": "ExponentialLR", "gamma": 0.5, "by_epoch": False}])
    )
    runner.train()
    steps = len(runner.train_dataloader) - 1  # the first step of ExponentialLR keeps the value
    assert runner.optim_wrapper.get_lr()["generator.lr"][0] == pytest.approx(0.1 * 0.5**steps)


def test_resume_restores_every_member(tmp_path) -> None:
    work = str(tmp_path / "gan")
    first = Runner.from_config(gan_config(work_dir=work))
    first.train()
    resumed = Runner.from_config(gan_config(work_dir=work, resume=True, train_cfg={"max_epochs": 1}))
    resumed.train()  # nothing left to train; the state is loaded
    for name in ("generator", "discriminator"):
        original = first.optim_wrapper[name].optimizer.state_dict()["state"]
        loaded = resumed.optim_wrapper[name].optimizer.state_dict()["state"]
        assert original.keys() == loaded.keys()
        for key in original:
            for field, value in original[key].items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded[key][field]))


def test_calls_for_one_optimizer_are_refused_on_the_dict() -> None:
    wrappers = build_optim_wrapper_dict(TwoPartNet(), gan_config()["optim_wrapper"])
    with pytest.raises(NotImplementedError, match=r"optim_wrapper\['generator'\]"):
        wrappers.update_params(torch.tensor(1.0))


def test_a_member_that_names_no_submodule_is_a_config_error() -> None:
    cfg = gan_config()
    cfg["optim_wrapper"]["generater"] = cfg["optim_wrapper"].pop("generator")
    runner = Runner.from_config(cfg)
    with pytest.raises(ConfigError) as info:
        runner.train()
    assert info.value.key == "optim_wrapper.generater"
    assert info.value.suggestions == ["generator"]


def test_a_schedule_for_an_unknown_member_is_a_config_error() -> None:
    cfg = gan_config(param_scheduler={"generater": {"type": "StepLR", "step_size": 1}})
    with pytest.raises(ConfigError) as info:
        Runner.from_config(cfg)
    assert info.value.key == "param_scheduler.generater"


def test_each_members_logged_lr_is_the_one_its_last_step_used(tmp_path) -> None:
    # ConstantLR halves the discriminator's lr for 3 iterations; the log line after 5 iterations
    # shows the lr of iteration 5 (as MMEngine's logger shows the latest lr), not the window's mean.
    cfg = gan_config(
        param_scheduler={
            "discriminator": [{"type": "ConstantLR", "factor": 0.5, "by_epoch": False, "end": 3}]
        },
        default_hooks={"logger": {"interval": 5}},
        work_dir=str(tmp_path),
    )
    Runner.from_config(cfg).train()
    reference = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.01)
    schedule = torch.optim.lr_scheduler.ConstantLR(reference, factor=0.5, total_iters=3)
    used = []
    for _ in range(5):
        used.append(reference.param_groups[0]["lr"])
        reference.step()
        schedule.step()
    first = json.loads((tmp_path / "scalars.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["step"] == 5
    assert first["discriminator.lr"] == pytest.approx(used[-1], rel=1e-12)
    assert first["generator.lr"] == 0.1
