"""Data of one's own through ``customrun train`` (issue 18, item 3): rows of a CSV file read by a plain
Dataset beside the config, and ``collate_fn`` and ``sampler`` by import path in one process and in two
under torchrun, each process reading its own shard through the sampler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import distributed as dist

from customrun_core import checkpoint, import_paths
from customrun_core.cli import cli

CSV_DATA = """
import numpy as np
import torch
from torch.utils.data import Dataset


class CsvRows(Dataset):
    \"\"\"The rows of a CSV file with a header: the feature columns, then an integer label.\"\"\"

    def __init__(self, path: str) -> None:
        table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
        self.features = torch.from_numpy(table[:, :-1])
        self.labels = torch.from_numpy(table[:, -1]).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        return self.features[index], self.labels[index]
"""

SHARDS = """
import json

import torch
from torch import nn
from torch.utils.data import Dataset, Sampler

from customrun_core import Hook, register


class Indexed(Dataset):
    \"\"\"Sample i is the number i, with the label i % 2.\"\"\"

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        return float(index), index % 2


def as_batch(samples):
    \"\"\"A collate_fn: the batch as a dict the model reads, with the indices it holds.\"\"\"
    return {
        "inputs": torch.tensor([[x] for x, _ in samples]),
        "targets": torch.tensor([y for _, y in samples]),
    }


class EveryNth(Sampler):
    \"\"\"This process's share: indices rank, rank + num_replicas, ... in order.\"\"\"

    def __init__(self, dataset, num_replicas: int, rank: int) -> None:
        self.indices = list(range(rank, len(dataset), num_replicas))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(1, 2)

    def forward(self, inputs, targets=None):
        logits = self.layer(inputs)
        return logits if targets is None else nn.functional.cross_entropy(logits, targets)


@register("hooks")
class SeenBatches(Hook):
    \"\"\"Writes the inputs of every training batch this process saw to seen<rank>.json.\"\"\"

    def __init__(self) -> None:
        self.seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.seen.append([int(x) for x in data_batch["inputs"].flatten()])

    def after_run(self, runner):
        (runner.work_dir / f"seen{runner.rank}.json").write_text(json.dumps(self.seen))
"""


def _config(dataset: str, **loader: str) -> str:
    options = "".join(f'{key} = "{value}"\n' for key, value in loader.items())
    return (
        textwrap.dedent(f"""
        model = {{ type = "shards:Net" }}
        train_cfg = {{ type = "EpochBasedTrainLoop", max_epochs = 1 }}
        optim_wrapper = {{ optimizer = {{ type = "SGD", lr = 0.1 }} }}
        custom_imports = {{ imports = ["shards"] }}
        custom_hooks = [{{ type = "SeenBatches" }}]
        progress = false

        [train_dataloader]
        batch_size = 3
        dataset = {dataset}
        sampler = {{ type = "shards:EveryNth" }}
        """)
        + options
    )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with shards.py and csv_data.py beside the configs; the test runs from elsewhere."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "shards.py").write_text(textwrap.dedent(SHARDS))
    (folder / "csv_data.py").write_text(textwrap.dedent(CSV_DATA))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield folder
    for name in ("shards", "csv_data"):
        sys.modules.pop(name, None)
    import_paths.use_config("<config>")


def test_rows_of_a_csv_file_train_and_validate_from_the_cli(project: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 2)).astype(np.float32)
    labels = (features[:, 0] + features[:, 1] > 0).astype(np.int64)
    rows = "\n".join(f"{a:.6f},{b:.6f},{y}" for (a, b), y in zip(features, labels, strict=True))
    (project / "points.csv").write_text("x0,x1,label\n" + rows + "\n")
    config = project / "csv.toml"
    config.write_text(
        textwrap.dedent(f"""
        model = {{ type = "ClassifierModel", backbone = {{ type = "torch.nn:Linear", in_features = 2, out_features = 2 }} }}
        train_cfg = {{ type = "EpochBasedTrainLoop", max_epochs = 5 }}
        optim_wrapper = {{ optimizer = {{ type = "SGD", lr = 0.5 }} }}
        train_dataloader = {{ batch_size = 10, shuffle = true, dataset = {{ type = "csv_data:CsvRows", path = "{project / "points.csv"}" }} }}
        val_dataloader = {{ batch_size = 60, dataset = {{ type = "csv_data:CsvRows", path = "{project / "points.csv"}" }} }}
        val_evaluator = {{ type = "Accuracy" }}
        progress = false
        """)
    )
    work = project.parent / "work"
    result = CliRunner().invoke(cli, ["train", str(config), "--work-dir", str(work)])
    assert result.exit_code == 0, result.output

    records = [json.loads(line) for line in (work / "scalars.jsonl").read_text().splitlines()]
    assert sum(1 for r in records if r["mode"] == "train" and "loss" in r) >= 1
    logged = [r for r in records if r["mode"] == "val"][-1]
    state = torch.load(checkpoint.latest(work), weights_only=True)["state_dict"]
    weight, bias = state["backbone.weight"], state["backbone.bias"]
    predicted = (torch.from_numpy(features) @ weight.T + bias).argmax(dim=1)  # the rows as numpy read them
    correct = int((predicted == torch.from_numpy(labels)).sum())
    assert logged["accuracy/top1"] == pytest.approx(100 * correct / len(labels))  # Accuracy logs percent
    assert correct > 0.8 * len(labels)  # the two columns separate the labels: training did learn


def test_collate_fn_and_sampler_by_import_path_from_the_cli(project: Path) -> None:
    config = project / "one.toml"
    config.write_text(_config('{ type = "shards:Indexed", size = 7 }', collate_fn="shards:as_batch"))
    work = project.parent / "one"
    result = CliRunner().invoke(cli, ["train", str(config), "--work-dir", str(work)])
    assert result.exit_code == 0, result.output
    assert json.loads((work / "seen0.json").read_text()) == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.slow
@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs Gloo")
def test_under_torchrun_each_process_reads_the_shard_its_sampler_gives(project: Path) -> None:
    config = project / "two.toml"
    config.write_text(_config('{ type = "shards:Indexed", size = 10 }', collate_fn="shards:as_batch"))
    work = project.parent / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*command, "-m", "customrun_core", "train", str(config), "--work-dir", str(work)],
        cwd=project.parent, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((work / "seen0.json").read_text()) == [[0, 2, 4], [6, 8]]
    assert json.loads((work / "seen1.json").read_text()) == [[1, 3, 5], [7, 9]]
