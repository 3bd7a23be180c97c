"""DigitsDataset's train, val and test splits (issue 21, item 4): disjoint, deterministic, covering
sklearn's 1,797 images, the train split as before; ``customrun test`` evaluates images that
validation never saw."""

from __future__ import annotations

import pytest
import torch

from customrun_core.datasets.digits import DigitsDataset
from customrun_core.errors import ConfigError

load_digits = pytest.importorskip("sklearn.datasets").load_digits
SPLITS = ("train", "val", "test")


@pytest.fixture(scope="module")
def splits() -> dict[str, DigitsDataset]:
    return {split: DigitsDataset(split) for split in SPLITS}


def test_sizes_keep_the_train_split_and_halve_the_held_out_images(splits) -> None:
    # 1797 - round(0.2 * 1797) = 1438 (benchmarks/run.py's DIGITS_TRAIN); 359 held out: 180 + 179
    assert [len(splits[s]) for s in SPLITS] == [1438, 180, 179]


def test_splits_are_pairwise_disjoint_and_cover_every_image_once(splits) -> None:
    indices = [splits[s].indices for s in SPLITS]
    assert all(len(set(i)) == len(i) for i in indices)
    assert sorted(i for part in indices for i in part) == list(range(1797))
    assert not set(splits["val"].indices) & set(splits["test"].indices)


def test_each_split_holds_sklearns_images_at_its_indices(splits) -> None:
    data = load_digits()
    for split in SPLITS:
        dataset = splits[split]
        expected = torch.as_tensor(data.data[dataset.indices], dtype=torch.float32) / 16.0
        assert torch.equal(dataset.images, expected)
        assert dataset.labels.tolist() == data.target[dataset.indices].tolist()


def test_train_split_is_unchanged(splits) -> None:
    """The permutation of seed 0 minus its first 359 images, as before the test split existed."""
    order = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    assert splits["train"].indices == order[359:].tolist()


def test_splits_are_deterministic_and_follow_the_seed(splits) -> None:
    for split in SPLITS:
        assert DigitsDataset(split).indices == splits[split].indices
    assert DigitsDataset("test", seed=1).indices != splits["test"].indices


@pytest.mark.parametrize(
    ("kwargs", "key"), [({"split": "tset"}, "split"), ({"val_fraction": 0.0005}, "val_fraction")]
)
def test_bad_arguments_are_config_errors(kwargs, key) -> None:
    with pytest.raises(ConfigError) as caught:
        DigitsDataset(**kwargs)
    assert caught.value.key == key


def test_test_pass_evaluates_other_images_than_validation(customrun_run) -> None:
    """After one epoch the model is not perfect, and k/180 == j/179 only at 100 %: the test
    accuracy differs from the last validation's (they were the same images before)."""
    result = customrun_run()
    val = result.metrics
    runner = result.runner
    test = runner.test()
    assert val is not None and val["accuracy/top1"] < 100
    assert test["accuracy/top1"] != val["accuracy/top1"]
    assert set(runner.test_dataloader.dataset.indices).isdisjoint(runner.val_dataloader.dataset.indices)
