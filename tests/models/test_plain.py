"""Plain ``nn.Module`` models used as they are, and the backbone + loss adapters, each against a step
written here by hand."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from customrun_core import Runner, unwrap_model
from customrun_core.datasets.digits import DigitsDataset
from customrun_core.errors import ConfigError
from customrun_core.models.classifier import RegressorModel
from customrun_core.randomness import seed_everything
from customrun_core.testing import tiny_config

PLAIN = textwrap.dedent(
    """
    import torch
    from torch import nn
    import torch.nn.functional as F


    class LossNet(nn.Module):
        '''forward(inputs, targets) is the loss dict in training; forward(inputs) the logits.'''

        def __init__(self, hidden=16):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

        def forward(self, inputs, targets=None):
            logits = self.layers(inputs)
            if targets is None:
                return logits
            return {"loss": F.cross_entropy(logits, targets), "accuracy_in_batch": (logits.argmax(1) == targets).float().mean()}


    class LogitsNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))

        def forward(self, inputs):
            return self.layers(inputs)
    """
)


@pytest.fixture
def plain_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "plain_nets.py").write_text(PLAIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "plain_nets"
    sys.modules.pop("plain_nets", None)


def one_step_config(model: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """One SGD step on the first 64 training digits, in order."""
    cfg = tiny_config(
        model=model,
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 1},
        optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.1}},
        default_hooks={"checkpoint": False, "logger": {"interval": 1}},
        work_dir=str(tmp_path / "work"),
    )
    cfg["train_dataloader"]["shuffle"] = False
    return cfg


def by_hand(model: nn.Module, loss_of: Any) -> dict[str, torch.Tensor]:
    """The same step written out: the first batch, the loss, backward, SGD."""
    data = DigitsDataset(split="train")
    inputs = torch.stack([data[i][0] for i in range(64)])
    targets = torch.tensor([int(data[i][1]) for i in range(64)])
    loss = loss_of(model, inputs, targets)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p.sub_(0.1 * p.grad)
    return model.state_dict()


def test_a_plain_module_returning_its_loss_trains_as_written(plain_module: str, tmp_path: Path) -> None:
    runner = Runner.from_config(one_step_config({"type": f"{plain_module}:LossNet", "hidden": 16}, tmp_path))
    runner.train()
    seed_everything(0)  # the run seeds before building the model: the same initial weights
    reference = sys.modules[plain_module].LossNet(hidden=16)
    expected = by_hand(reference, lambda m, x, y: F.cross_entropy(m(x), y))
    got = unwrap_model(runner.model).state_dict()
    assert list(got) == list(expected)  # the plain module's own keys: checkpoints load into LossNet
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value)
    record = json.loads((tmp_path / "work" / "scalars.jsonl").read_text().splitlines()[0])
    assert "accuracy_in_batch" in record and "loss" in record  # every returned term is logged


def test_its_predictions_go_to_the_evaluator(plain_module: str, tmp_path: Path) -> None:
    runner = Runner.from_config(one_step_config({"type": f"{plain_module}:LossNet"}, tmp_path))
    metrics = runner.val()
    assert set(metrics) == {"accuracy/top1"} and 0.0 <= metrics["accuracy/top1"] <= 100.0


def test_a_module_that_returns_logits_only_is_refused_with_the_way_out(plain_module: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Runner.from_config(tiny_config(model={"type": f"{plain_module}:LogitsNet"}))
    message = str(raised.value)
    assert message.startswith("<config>: model.type: LogitsNet.forward takes only the inputs")
    assert 'type = "ClassifierModel", backbone = { type = "plain_nets:LogitsNet" }' in message


def test_the_classifier_adapter_takes_a_backbone_and_a_loss_by_import_path(
    plain_module: str, tmp_path: Path
) -> None:
    model = {
        "type": "ClassifierModel",
        "backbone": {"type": f"{plain_module}:LogitsNet"},
        "loss": {"type": "torch.nn:CrossEntropyLoss", "label_smoothing": 0.1},
    }
    runner = Runner.from_config(one_step_config(model, tmp_path))
    runner.train()
    seed_everything(0)
    reference = sys.modules[plain_module].LogitsNet()
    expected = by_hand(reference, lambda m, x, y: F.cross_entropy(m(x), y, label_smoothing=0.1))
    got = unwrap_model(runner.model).backbone.state_dict()
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value)


def test_the_regressor_meets_a_column_of_targets() -> None:
    model = RegressorModel(backbone=nn.Linear(3, 1))
    inputs, targets = torch.randn(5, 3), torch.randn(5)
    loss = model(inputs, targets)["loss"]
    torch.testing.assert_close(loss, ((model.backbone(inputs)[:, 0] - targets) ** 2).mean())


@pytest.mark.parametrize("loss", [{"type": "os:system", "command": "true"}, "builtins.eval"])
def test_a_loss_must_be_a_module_class(loss: Any) -> None:
    with pytest.raises(ConfigError, match=r"names the standard library module '(os|builtins)'"):
        RegressorModel(backbone=nn.Linear(3, 1), loss=loss)
