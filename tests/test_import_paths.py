"""Import paths find local modules: installed packages first, then the config's directory, then the
working directory (issue 18), and name only component classes (or a collate function)."""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from customrun_core import import_paths, registry
from customrun_core.cli import cli
from customrun_core.errors import ComponentError
from customrun_core.plugins import import_custom_modules

DATASET = """
import torch
from torch.utils.data import Dataset


class Blobs(Dataset):
    def __init__(self, size: int = 16) -> None:
        generator = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(size, 4, generator=generator)
        self.labels = (self.inputs.sum(dim=1) > 0).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.inputs[index], self.labels[index]


def make_blobs(size: int = 16) -> Blobs:
    return Blobs(size)
"""

CONFIG = """
model = {{ type = "ClassifierModel", backbone = {{ type = "MLP", in_features = 4, hidden_features = [8], num_classes = 2 }} }}
train_dataloader = {{ batch_size = 4, dataset = {{ type = "{dataset}", size = 16 }} }}
train_cfg = {{ type = "EpochBasedTrainLoop", max_epochs = 1 }}
optim_wrapper = {{ optimizer = {{ type = "SGD", lr = 0.1 }} }}
"""


@pytest.fixture(autouse=True)
def _clean_imports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local modules of one test (all named ``crt_*``) and the directories they add stay in it."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    for name in [n for n in sys.modules if n.startswith("crt_")]:
        del sys.modules[name]
    import_paths.use_config("<config>")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory that is not the config's."""
    place = tmp_path / "elsewhere"
    place.mkdir()
    monkeypatch.chdir(place)
    return place


@pytest.mark.parametrize("path", ["crt_beside:Blobs", "crt_beside.Blobs"])
def test_a_module_beside_the_config_resolves(tmp_path: Path, elsewhere: Path, path: str) -> None:
    write(tmp_path / "cfg" / "crt_beside.py", DATASET)
    config = write(tmp_path / "cfg" / "train.toml", CONFIG.format(dataset=path))
    import_paths.use_config(str(config))
    found = registry.resolve("datasets", path)
    assert found.__name__ == "Blobs"
    assert Path(sys.modules["crt_beside"].__file__ or "").parent == tmp_path / "cfg"
    assert str(tmp_path / "cfg") not in sys.path[:-1]  # only ever at the end, after installed packages


def test_a_module_in_the_working_directory_resolves(tmp_path: Path) -> None:
    write(tmp_path / "crt_here.py", DATASET)
    import_paths.use_config("<config>")  # a config given as a dict: the working directory only
    assert registry.resolve("datasets", "crt_here:Blobs").__module__ == "crt_here"


def test_a_local_package_and_its_neighbours_import(tmp_path: Path, elsewhere: Path) -> None:
    write(tmp_path / "cfg" / "crt_pkg" / "__init__.py", "")
    write(tmp_path / "cfg" / "crt_pkg" / "data.py", "from crt_helper import Blobs\n")
    write(tmp_path / "cfg" / "crt_helper.py", DATASET)
    import_paths.use_config(str(write(tmp_path / "cfg" / "train.toml", "")))
    assert registry.resolve("datasets", "crt_pkg.data:Blobs").__module__ == "crt_helper"


def test_a_local_file_never_shadows_an_installed_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "json.py", DATASET)
    write(tmp_path / "colorsys.py", DATASET)
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)  # imported afresh, not from the cache
    with pytest.raises(ComponentError, match=r"a file of yours named json\.py is shadowed by it: rename it"):
        registry.resolve("datasets", "json:Blobs")
    with pytest.raises(ComponentError, match="standard library module 'colorsys'"):
        registry.resolve("datasets", "colorsys:Blobs")  # refused before anything is imported (issue 20)
    assert "colorsys" not in sys.modules or Path(sys.modules["colorsys"].__file__ or "").parent != tmp_path


def test_a_missing_module_names_the_directories_and_the_ways_out(tmp_path: Path, elsewhere: Path) -> None:
    config = write(tmp_path / "cfg" / "train.toml", "")
    import_paths.use_config(str(config))
    with pytest.raises(ComponentError) as caught:
        registry.resolve("datasets", "crt_nowhere:Blobs")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("dataset 'crt_nowhere:Blobs': cannot import module 'crt_nowhere'")
    assert f"{tmp_path / 'cfg'} (the config's directory) or {elsewhere} (the working directory)" in message
    assert "install it (or add its directory to PYTHONPATH), or list it in custom_imports" in message


def test_an_import_path_must_name_a_component_class(tmp_path: Path) -> None:
    write(tmp_path / "crt_kinds.py", DATASET)
    with pytest.raises(ComponentError, match=r"is a function, not a subclass of torch\.utils\.data\.Dataset"):
        registry.resolve("datasets", "crt_kinds:make_blobs")
    with pytest.raises(ComponentError, match=r"not a subclass of torch\.nn\.Module"):
        registry.resolve("models", "crt_kinds:Blobs")


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("os:system", "names the standard library module 'os'"),
        ("builtins:eval", "names the standard library module 'builtins'"),
        ("json:dumps", "names the standard library module 'json'"),
        ("crt_collate:dumps", "is a function from the standard library (json)"),  # re-exported
        ("crt_collate:Thing", "is a type"),
    ],
)
def test_a_collate_function_is_a_plain_function_of_your_code(tmp_path: Path, path: str, why: str) -> None:
    write(
        tmp_path / "crt_collate.py",
        "from json import dumps\n\nclass Thing:\n    pass\n\ndef collate(samples):\n    return samples\n",
    )
    assert import_paths.import_function("crt_collate:collate", "collate_fn").__name__ == "collate"
    with pytest.raises(ComponentError, match=re.escape(why)):
        import_paths.import_function(path, "collate_fn")


def test_custom_imports_search_after_installed_packages(tmp_path: Path, elsewhere: Path) -> None:
    write(tmp_path / "cfg" / "crt_registered.py", DATASET)
    write(tmp_path / "cfg" / "json.py", "raise RuntimeError('a local json.py must not run')\n")
    config = write(tmp_path / "cfg" / "train.toml", "")
    front = list(sys.path[:3])
    import_custom_modules(["crt_registered", "json"], allow_failed=False, file=str(config))
    assert "crt_registered" in sys.modules
    assert sys.path[:3] == front  # nothing put in front of the installed packages
    assert str(elsewhere) not in sys.path and "" not in sys.path[:1]


def test_customrun_train_with_a_module_beside_the_config(tmp_path: Path, elsewhere: Path) -> None:
    write(tmp_path / "cfg" / "crt_cli_data.py", DATASET)
    config = write(tmp_path / "cfg" / "train.toml", CONFIG.format(dataset="crt_cli_data:Blobs"))
    result = CliRunner().invoke(cli, ["train", str(config), "--work-dir", str(tmp_path / "work")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "work" / "epoch_1.pt").exists()


def test_customrun_train_without_the_module_is_one_line(tmp_path: Path, elsewhere: Path) -> None:
    config = write(tmp_path / "cfg" / "train.toml", CONFIG.format(dataset="crt_absent:Blobs"))
    result = CliRunner().invoke(cli, ["train", str(config), "--work-dir", str(tmp_path / "work")])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "train_dataloader.dataset.type" in line and "no module named 'crt_absent'" in line
    assert str(tmp_path / "cfg") in line and str(elsewhere) in line
