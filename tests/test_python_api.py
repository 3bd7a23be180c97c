"""customrun from Python: the docs page's examples run as written, and built objects in a config."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from customrun_core import Runner
from customrun_core.config.built import split_built
from customrun_core.errors import ConfigError
from customrun_core.testing import tiny_config

PAGE = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_the_pages_examples_run(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(EXAMPLES[index], f"{PAGE.name}[{index}]", "exec"), {"__name__": "docs_example"})


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(64, 10)

    def forward(self, inputs, targets=None):  # type: ignore[no-untyped-def]
        logits = self.layer(inputs)
        return logits if targets is None else nn.functional.cross_entropy(logits, targets)


def test_a_built_model_is_the_one_trained_and_recorded_by_class_path(tmp_path: Path) -> None:
    model = Net()
    runner = Runner.from_config(tiny_config(model=model, work_dir=str(tmp_path / "w")))
    before = model.layer.weight.detach().clone()
    runner.train()
    assert runner.model is model and not torch.equal(model.layer.weight, before)
    recorded = tomllib.loads((tmp_path / "w" / "config.toml").read_text(encoding="utf-8"))
    assert recorded["model"] == {"type": f"{__name__}:Net"}


def test_a_built_dataloader_is_used_as_given(tmp_path: Path) -> None:
    data = TensorDataset(torch.randn(40, 64), torch.randint(0, 10, (40,)))
    loader = DataLoader(data, batch_size=8)
    cfg = tiny_config(model=Net(), train_dataloader=loader, work_dir=str(tmp_path / "w"))
    del cfg["val_dataloader"], cfg["val_evaluator"]
    runner = Runner.from_config(cfg)
    runner.train()
    assert runner.train_dataloader is loader and runner.iter == 5


def test_an_object_elsewhere_is_one_line_naming_the_places() -> None:
    cfg = tiny_config(optim_wrapper={"optimizer": torch.optim.SGD([torch.zeros(1)], lr=0.1)})
    with pytest.raises(ConfigError) as raised:
        split_built(cfg)
    assert str(raised.value).startswith(
        "optim_wrapper.optimizer: expected a table, got a built SGD object: a built object is taken only as model,"
    )


def test_a_built_dataset_keeps_the_dataloader_table() -> None:
    data = TensorDataset(torch.zeros(4, 64), torch.zeros(4, dtype=torch.long))
    table, built = split_built(tiny_config(train_dataloader={"batch_size": 2, "dataset": data}))
    assert built == {"train_dataloader.dataset": data}
    assert table["train_dataloader"] == {
        "batch_size": 2,
        "dataset": {"type": "torch.utils.data.dataset:TensorDataset"},
    }
