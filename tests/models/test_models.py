"""MMEngine's model contract: BaseModel, ClassifierModel, and any nn.Module with train_step."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from customrun_core import Runner
from customrun_core.errors import ConfigError
from customrun_core.models.base import parse_losses
from customrun_core.models.classifier import ClassifierModel
from customrun_core.models.wrappers import is_model_wrapper, unwrap_model
from customrun_core.optim import OptimWrapper
from customrun_core.testing import tiny_config


def test_parse_losses_sums_every_key_containing_loss() -> None:
    a = torch.tensor(1.5, requires_grad=True)
    total, log_vars = parse_losses(
        {"loss_cls": a, "loss_aux": [torch.tensor(0.25), torch.tensor(0.25)], "acc": 3}
    )
    assert total.item() == pytest.approx(2.0)
    assert {k: v.item() for k, v in log_vars.items()} == {
        "loss_cls": 1.5,
        "loss_aux": 0.5,
        "acc": 3.0,
        "loss": 2.0,
    }
    total.backward()
    assert a.grad.item() == 1.0


def test_classifier_train_step_equals_a_hand_written_step() -> None:
    torch.manual_seed(0)
    model = ClassifierModel(backbone={"type": "torch.nn:Linear", "in_features": 4, "out_features": 3})
    reference = nn.Linear(4, 3)
    reference.load_state_dict(model.backbone.state_dict())
    x, y = torch.randn(8, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])

    log_vars = model.train_step((x, y), OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.5)))

    optimizer = torch.optim.SGD(reference.parameters(), lr=0.5)
    loss = nn.functional.cross_entropy(reference(x), y)
    loss.backward()
    optimizer.step()
    assert log_vars["loss"].item() == pytest.approx(loss.item())
    assert torch.equal(model.backbone.weight, reference.weight)
    assert torch.equal(model.val_step({"inputs": x, "targets": y}), reference(x).detach())


def test_unknown_loss_suggests_a_torch_loss() -> None:
    with pytest.raises(ConfigError) as info:
        ClassifierModel(backbone=nn.Linear(2, 2), loss={"type": "CrossEntropyLos"})
    assert str(info.value).startswith(
        "loss.type: unknown loss 'CrossEntropyLos' (did you mean 'CrossEntropyLoss'"
    )


def test_unwrap_model_reaches_the_real_module() -> None:
    inner = nn.Linear(2, 2)
    wrapped = nn.DataParallel(inner)
    assert is_model_wrapper(wrapped) and not is_model_wrapper(inner)
    assert unwrap_model(wrapped) is inner and unwrap_model(inner) is inner


PLAIN_MODEL = """
import torch
from torch import nn
from customrun_core import register

@register("models")
class PlainNet(nn.Module):
    # Not a BaseModel: just an nn.Module with MMEngine's three methods.
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)
        self.steps = 0

    def train_step(self, data_batch, optim_wrapper):
        x, y = data_batch
        with optim_wrapper.optim_context(self):
            loss = nn.functional.cross_entropy(self.fc(x), y)
        optim_wrapper.update_params(loss)
        self.steps += 1
        return {"loss": loss.detach()}

    def val_step(self, data_batch):
        return self.fc(data_batch[0])

    test_step = val_step
"""


def test_any_module_with_train_step_trains(tmp_path: Path) -> None:
    (tmp_path / "plain_model.py").write_text(textwrap.dedent(PLAIN_MODEL))
    cfg = tiny_config(model={"type": "PlainNet"}, custom_imports={"imports": ["plain_model"]})
    runner = Runner.from_config(cfg)
    runner.train()
    assert runner.model.steps == runner.iter == len(runner.train_dataloader)
    assert runner.val_loop.evaluator.evaluate()["accuracy/top1"] > 50.0
