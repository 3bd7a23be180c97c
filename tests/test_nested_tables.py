"""Nested component tables (issue 18): a model or dataset named by import path gets every table with
a ``type`` among its arguments built first, innermost first (also inside arrays and plain tables);
customrun's own components get theirs as written. Checked before anything is built; the same
one-line errors at the nested key path."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from customrun_core import import_paths
from customrun_core.assembly import check
from customrun_core.build import build
from customrun_core.cli import cli
from customrun_core.config import load_config
from customrun_core.errors import ConfigError

MODULE = """
from functools import partial

import torch
from torch import nn
from torch.utils.data import Dataset

BUILT = []  # class names in the order their objects were made


class Encoder(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        BUILT.append("Encoder")
        self.width = width
        self.layer = nn.Linear(2, width)

    def forward(self, x):
        return self.layer(x)


class Net(nn.Module):
    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        BUILT.append("Net")
        self.encoder, self.head = encoder, head

    def forward(self, x):
        return self.head(torch.relu(self.encoder(x)))


class Scale:
    def __init__(self, factor: float) -> None:
        BUILT.append("Scale")
        self.factor = factor

    def __call__(self, x):
        return x * self.factor


class Shift:
    def __init__(self, by: float) -> None:
        BUILT.append("Shift")
        self.by = by

    def __call__(self, x):
        return x + self.by


class Compose:
    def __init__(self, transforms: list) -> None:
        BUILT.append("Compose")
        self.transforms = transforms

    def __call__(self, x):
        for transform in self.transforms:
            x = transform(x)
        return x


def encoder(width: int) -> nn.Module:
    return Encoder(width)


def not_a_model(width: int):
    return width


class Points(Dataset):
    def __init__(self, size: int, transform=None, options: dict | None = None) -> None:
        BUILT.append("Points")
        self.inputs = torch.arange(size * 2, dtype=torch.float32).reshape(size, 2)
        self.transform = transform
        self.options = options

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        x = self.inputs[index]
        return (self.transform(x) if self.transform else x), index % 3
"""

MODEL = {
    "type": "crt_nested:Net",
    "encoder": {"type": "crt_nested:Encoder", "width": 4},
    "head": {"type": "torch.nn:Linear", "in_features": 4, "out_features": 3},
}
PIPELINE = {
    "type": "crt_nested:Compose",
    "transforms": [{"type": "crt_nested:Scale", "factor": 2.0}, {"type": "crt_nested:Shift", "by": 1.0}],
}


@pytest.fixture(autouse=True)
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    (tmp_path / "crt_nested.py").write_text(textwrap.dedent(MODULE), encoding="utf-8")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    monkeypatch.chdir(tmp_path)
    import crt_nested

    yield crt_nested
    sys.modules.pop("crt_nested", None)
    import_paths.use_config("<config>")


def test_a_model_by_import_path_gets_its_nested_tables_built_innermost_first(module: object) -> None:
    model = build("models", MODEL, key="model")
    assert type(model.encoder).__name__ == "Encoder" and model.encoder.width == 4
    assert isinstance(model.head, nn.Linear) and model.head.out_features == 3
    assert module.BUILT == ["Encoder", "Net"]  # type: ignore[attr-defined]
    x = torch.ones(1, 2)
    expected = model.head(torch.relu(model.encoder.layer(x)))  # by hand, from the built parts
    torch.testing.assert_close(model(x), expected)


def test_a_transform_pipeline_in_an_array_is_built_and_applied(module: object) -> None:
    table = {"type": "crt_nested:Points", "size": 3, "transform": PIPELINE, "options": {"note": "kept"}}
    dataset = build("datasets", table, key="train_dataloader.dataset")
    assert module.BUILT == ["Scale", "Shift", "Compose", "Points"]  # type: ignore[attr-defined]
    features, _ = dataset[1]
    torch.testing.assert_close(features, torch.tensor([2.0, 3.0]) * 2.0 + 1.0)
    assert dataset.options == {"note": "kept"}  # a table without type stays a table


def test_a_registered_name_nested_in_an_import_path_class_is_built_as_that_model() -> None:
    table = {**MODEL, "encoder": {"type": "MLP", "in_features": 2, "hidden_features": [5], "num_classes": 4}}
    model = build("models", table, key="model")
    assert type(model.encoder).__name__ == "MLP"


def test_customrun_components_get_their_nested_tables_as_written() -> None:
    model = build(
        "models",
        {"type": "ClassifierModel", "backbone": {"type": "crt_nested:Encoder", "width": 3}},
        key="model",
    )
    assert type(model.backbone).__name__ == "Encoder"  # built by ClassifierModel itself, as before


def test_the_check_builds_nothing_and_finds_a_misspelt_nested_argument(
    tmp_path: Path, module: object
) -> None:
    pipeline = {"type": "crt_nested:Compose", "transforms": [{"type": "crt_nested:Scale", "factr": 2.0}]}
    config = _config(tmp_path, MODEL, {"type": "crt_nested:Points", "size": 8, "transform": pipeline})
    with pytest.raises(ConfigError) as caught:
        check(load_config(config))
    assert caught.value.key == "train_dataloader.dataset.transform.transforms[0].factr"
    assert "factor" in str(caught.value)  # the closest valid name
    assert module.BUILT == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("nested_type", "words"),
    [
        ("os:system", "names the standard library module 'os'"),  # refused before it is imported
        ("subprocess:Popen", "names the standard library module 'subprocess'"),
        ("crt_nested:partial", "outside the standard library"),  # functools.partial, re-exported
        ("crt_nested:encoder", "not a model (torch.nn.Module), a dataset, a sampler or a transform"),
        ("crt_nested:BUILT", "a list"),
        ("MPL", "did you mean 'MLP'"),
    ],
)
def test_a_nested_type_that_names_no_component_is_one_line_and_exit_2(
    tmp_path: Path, module: object, nested_type: str, words: str
) -> None:
    config = _config(tmp_path, {**MODEL, "encoder": {"type": nested_type, "width": 4}})
    result = CliRunner().invoke(cli, ["train", str(config), "--work-dir", str(tmp_path / "wd")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "model.backbone.encoder.type" in lines[0] and words in lines[0], lines
    assert module.BUILT == []  # type: ignore[attr-defined]


def test_nested_tables_train_from_the_cli(tmp_path: Path) -> None:
    dataset = {"type": "crt_nested:Points", "size": 12, "transform": PIPELINE}
    config = _config(tmp_path, MODEL, dataset)
    result = CliRunner().invoke(cli, ["train", str(config), "--work-dir", str(tmp_path / "wd")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "wd" / "epoch_1.pt").is_file()


def test_model_functions_of_the_factory_packages_build_models_and_others_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = {**MODEL, "encoder": {"type": "crt_nested:encoder", "width": 5}}
    with pytest.raises(ConfigError, match="is a function, not a model"):
        build("models", table, key="model")  # not a package documented as a model factory
    monkeypatch.setattr(import_paths, "MODEL_FACTORY_PACKAGES", ("crt_nested",))  # as torchvision.models
    model = build("models", table, key="model")
    assert type(model.encoder).__name__ == "Encoder" and model.encoder.width == 5
    with pytest.raises(ConfigError, match="widht") as caught:  # checked against the function's signature
        build("models", {"type": "crt_nested:encoder", "widht": 5}, key="model")
    assert caught.value.key == "model.widht"
    with pytest.raises(ConfigError, match=r"returned a int, not an nn\.Module"):
        build("models", {"type": "crt_nested:not_a_model", "width": 5}, key="model")


def _config(tmp_path: Path, backbone: dict, dataset: dict | None = None) -> Path:
    import tomli_w

    cfg = {
        "model": {"type": "ClassifierModel", "backbone": backbone},
        "train_dataloader": {"batch_size": 4, "dataset": dataset or {"type": "crt_nested:Points", "size": 8}},
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 1},
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}},
        "progress": False,
    }
    path = tmp_path / "nested.toml"
    path.write_text(tomli_w.dumps(cfg), encoding="utf-8")
    return path
