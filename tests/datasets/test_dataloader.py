"""Dataloader tables: any Dataset by import path, ``collate_fn`` and ``sampler`` by import path, and
data read from files by a plain local Dataset class (issue 18, item 3)."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from customrun_core import Runner, import_paths
from customrun_core.datasets.loader import ResumableSampler, build_dataloader
from customrun_core.errors import ConfigError, located

DATA = """
import torch
from torch.utils.data import Dataset, Sampler


class Numbers(Dataset):
    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        return torch.tensor([float(index)]), torch.tensor(index % 2)


def pairs(samples):
    inputs = torch.stack([x for x, _ in samples])
    return {"inputs": inputs, "count": len(samples)}


class Backwards(Sampler):
    def __init__(self, data_source, step: int = 1) -> None:
        self.size, self.step = len(data_source), step

    def __iter__(self):
        return iter(range(self.size - 1, -1, -self.step))

    def __len__(self) -> int:
        return len(range(self.size - 1, -1, -self.step))


class Sharded(Sampler):
    def __init__(self, dataset, num_replicas: int, rank: int) -> None:
        self.indices = list(range(rank, len(dataset), num_replicas))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class NotASampler:
    def __init__(self, data_source) -> None:
        pass
"""

FILES = """
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset


class NpyFolder(Dataset):
    \"\"\"One sample per .npy file: the features, and the label in the file's name (7_label1.npy).\"\"\"

    def __init__(self, root: str) -> None:
        self.files = sorted(Path(root).glob("*.npy"))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        path = self.files[index]
        features = torch.from_numpy(np.load(path)).float()
        return features, int(path.stem.rpartition("label")[2])
"""


@pytest.fixture(autouse=True)
def local_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """``crt_data.py`` in the working directory; the modules of a test go with it."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "crt_data.py").write_text(DATA)
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("crt_")]:
        del sys.modules[name]
    import_paths.use_config("<config>")


def loader(train: bool = True, world_size: int = 1, **table: object) -> torch.utils.data.DataLoader:
    cfg = {"dataset": {"type": "crt_data:Numbers", "size": 6}, "batch_size": 2, **table}
    return build_dataloader(cfg, "train_dataloader", "cfg.toml", seed=0, world_size=world_size, train=train)


def order(data: torch.utils.data.DataLoader) -> list[int]:
    return [int(x) for batch in data for x in batch[0].flatten()]


def test_a_local_dataset_has_its_arguments_checked() -> None:
    assert order(loader()) == [0, 1, 2, 3, 4, 5]
    cfg = {"dataset": {"type": "crt_data:Numbers", "sise": 6}}
    with pytest.raises(ConfigError) as caught, located("cfg.toml"):  # as assembly builds it
        build_dataloader(cfg, "train_dataloader", "cfg.toml", seed=0)
    assert str(caught.value) == (
        "cfg.toml: train_dataloader.dataset.sise: Numbers has no argument 'sise' (it takes size)"
        " (did you mean 'size'?)"
    )


def test_collate_fn_by_import_path() -> None:
    batch = next(iter(loader(collate_fn="crt_data:pairs")))
    assert batch["count"] == 2 and batch["inputs"].shape == (2, 1)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("os:system", "collate_fn 'os:system' names the standard library module 'os'"),
        ("subprocess:call", "names the standard library module 'subprocess'"),
        ("crt_data:Numbers", "collate_fn 'crt_data:Numbers' is a type"),
        ("crt_data:missing", "module 'crt_data' has no attribute 'missing'"),
    ],
)
def test_collate_fn_names_a_plain_function_only(path: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loader(collate_fn=path)
    assert str(caught.value).startswith("cfg.toml: train_dataloader.collate_fn: ")
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_sampler_is_built_with_the_dataset() -> None:
    assert order(loader(sampler={"type": "crt_data:Backwards", "step": 2})) == [5, 3, 1]
    assert order(loader(train=False, sampler={"type": "crt_data:Backwards"})) == [5, 4, 3, 2, 1, 0]
    stock = loader(sampler={"type": "torch.utils.data:SequentialSampler"})  # a torch sampler by import path
    assert order(stock) == [0, 1, 2, 3, 4, 5]


def test_a_user_sampler_resumes_inside_an_epoch() -> None:
    data = loader(sampler={"type": "crt_data:Backwards"})
    assert isinstance(data.sampler, ResumableSampler)
    data.sampler.skip_batches(2)
    assert order(data) == [1, 0]  # the pass resumes after the 2 batches already trained
    assert order(data) == [5, 4, 3, 2, 1, 0]


@pytest.mark.parametrize(
    ("table", "key", "says"),
    [
        ({"type": "crt_data:Backwards", "stpe": 2}, "sampler.stpe", "did you mean 'step'?"),
        (
            {"type": "crt_data:Backwards", "data_source": 2},
            "sampler.data_source",
            "no argument 'data_source'",
        ),
        ({"type": "crt_data:NotASampler"}, "sampler.type", "not a subclass of torch.utils.data.Sampler"),
        ({"type": "Backwards"}, "sampler.type", "expected an import path 'module:Class'"),
        ({"step": 2}, "sampler.type", "required key 'type' is missing"),
    ],
)
def test_a_wrong_sampler_is_one_line(table: dict[str, object], key: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        loader(sampler=table)
    message = str(caught.value)
    assert message.startswith(f"cfg.toml: train_dataloader.{key}: ") and "\n" not in message
    assert says in message


def test_sampler_and_shuffle_exclude_each_other() -> None:
    with pytest.raises(
        ConfigError, match=r"train_dataloader\.shuffle: expected shuffle or a sampler, got both"
    ):
        loader(shuffle=True, sampler={"type": "crt_data:Backwards"})


def test_under_torchrun_a_sampler_gets_its_shard_or_a_warning() -> None:
    cfg = {"dataset": {"type": "crt_data:Numbers", "size": 6}, "batch_size": 2}
    sharded = dict(cfg, sampler={"type": "crt_data:Sharded"})
    second = build_dataloader(sharded, "train_dataloader", "cfg.toml", seed=0, rank=1, world_size=2)
    assert order(second) == [1, 3, 5]
    unsharded = dict(cfg, sampler={"type": "crt_data:Backwards"})
    with pytest.warns(UserWarning, match="Backwards takes no num_replicas and rank") as caught:
        build_dataloader(unsharded, "train_dataloader", "cfg.toml", seed=0, rank=1, world_size=2)
    assert "\n" not in str(caught[0].message)


def test_data_from_a_folder_of_npy_files_trains_one_epoch(tmp_path: Path) -> None:
    """The recipe of docs/own-code.md: files read by a plain Dataset class beside the config."""
    project = tmp_path / "project"
    (project / "samples").mkdir(parents=True)
    (project / "crt_files.py").write_text(textwrap.dedent(FILES))
    rng = np.random.default_rng(0)
    for index in range(12):
        label = index % 2
        np.save(project / "samples" / f"{index}_label{label}.npy", rng.normal(label, 1.0, size=4))
    config = project / "train.toml"
    config.write_text(
        textwrap.dedent(f"""
        model = {{ type = "ClassifierModel", backbone = {{ type = "MLP", in_features = 4, hidden_features = [8], num_classes = 2 }} }}
        train_cfg = {{ type = "EpochBasedTrainLoop", max_epochs = 1 }}
        optim_wrapper = {{ optimizer = {{ type = "SGD", lr = 0.1 }} }}

        [train_dataloader]
        batch_size = 4
        dataset = {{ type = "crt_files:NpyFolder", root = "{project / "samples"}" }}
        """)
    )
    runner = Runner.from_config(config, work_dir=str(tmp_path / "work"))
    runner.train()
    records = [json.loads(line) for line in (tmp_path / "work" / "scalars.jsonl").read_text().splitlines()]
    assert runner.iter == 3 and (tmp_path / "work" / "epoch_1.pt").exists()
    assert records and all("loss" in r for r in records if "lr" in r)
