"""customrun_core/batch.py: walking a batch's tensors, moving them to a device, channels_last."""

from __future__ import annotations

from collections import namedtuple

import torch

from customrun_core.batch import collate_channels_last, map_tensors, to_channels_last, to_device

Pair = namedtuple("Pair", "inputs targets")


def test_map_tensors_rebuilds_every_container_and_leaves_other_values() -> None:
    x, y = torch.ones(2), torch.zeros(2, dtype=torch.long)
    batch = {"pair": Pair(x, y), "list": [x, "text"], "tuple": (y,), "name": "a", "count": 3}
    doubled = map_tensors(batch, lambda t: t * 2)
    assert isinstance(doubled["pair"], Pair) and isinstance(doubled["tuple"], tuple)
    assert torch.equal(doubled["pair"].inputs, torch.full((2,), 2.0))
    assert torch.equal(doubled["tuple"][0], y)
    assert doubled["list"][1] == "text" and (doubled["name"], doubled["count"]) == ("a", 3)
    assert torch.equal(x, torch.ones(2)) and batch["list"][0] is x  # the input is left as it was


def test_to_device_moves_only_what_is_elsewhere() -> None:
    x, y = torch.ones(2), torch.zeros(2, dtype=torch.long)
    batch = {"pair": Pair(x, y), "list": [x], "name": "a"}
    same = to_device(batch, torch.device("cpu"))
    assert same["pair"].inputs is x and same["pair"].targets is y and same["list"][0] is x
    assert isinstance(same["pair"], Pair) and same["name"] == "a"
    # Another device (the meta device stands in for an accelerator): every tensor moves, once.
    moved = to_device(batch, torch.device("meta"))
    assert [t.device.type for t in (moved["pair"].inputs, moved["pair"].targets, moved["list"][0])] == [
        "meta"
    ] * 3
    assert to_device(moved, torch.device("meta"))["list"][0] is moved["list"][0]


def test_channels_last_converts_only_4d_tensors_and_keeps_containers() -> None:
    images, labels = torch.randn(2, 3, 4, 5), torch.tensor([1, 0])
    batch = to_channels_last({"inputs": images, "targets": labels, "extra": [images[0], (images,)]})
    assert batch["inputs"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch["inputs"], images)
    assert batch["targets"] is labels  # 1-D: untouched
    assert batch["extra"][0].is_contiguous() and torch.equal(batch["extra"][0], images[0])  # 3-D: untouched
    assert batch["extra"][1][0].is_contiguous(memory_format=torch.channels_last)
    assert isinstance(batch["extra"][1], tuple)


def test_collate_channels_last_stacks_as_default_collate_then_converts() -> None:
    from torch.utils.data import default_collate

    samples = [{"inputs": torch.randn(3, 4, 5), "targets": torch.tensor(i)} for i in range(2)]
    batch, reference = collate_channels_last(samples), default_collate(samples)
    assert torch.equal(batch["inputs"], reference["inputs"]) and torch.equal(
        batch["targets"], reference["targets"]
    )
    assert batch["inputs"].is_contiguous(memory_format=torch.channels_last)
    assert not reference["inputs"].is_contiguous(memory_format=torch.channels_last)
