"""ScalarBuffer: window means for recorded values, the latest value for those set as current; the
record format of scalars.jsonl."""

from __future__ import annotations

import json
import math

import pytest
import torch

from customrun_core.scalars import SCALARS_FILE, ScalarBuffer, append_record, json_line, stacked_mean


def test_flush_gives_window_means_and_latest_values() -> None:
    scalars = ScalarBuffer()
    for step, lr in enumerate([0.1, 0.05, 0.025]):
        scalars.set_latest("lr", lr)
        scalars.update("loss", torch.tensor(float(step)))  # 0, 1, 2
    assert scalars.flush() == {"lr": 0.025, "loss": 1.0}
    scalars.set_latest("lr", 0.0125)
    scalars.update("loss", 4.0)
    assert scalars.flush() == {"lr": 0.0125, "loss": 4.0}  # the window restarted
    assert scalars.flush() == {"lr": 0.0125}  # nothing recorded since: only the current values
    assert scalars.latest("loss") == 4.0


def test_a_value_set_as_latest_keeps_no_window() -> None:
    scalars = ScalarBuffer()
    for i in range(1000):
        scalars.set_latest("lr", i)
    assert scalars._window == {}
    assert scalars.window_mean("lr") == 999.0


def test_the_accelerator_path_sums_on_the_device_to_the_same_mean() -> None:
    # stacked_mean is what a window of CUDA tensors takes; on the CPU it must give the Python mean.
    values = [torch.tensor(v, dtype=torch.float32) for v in (0.1, 0.2, 0.7, 1e-8)]
    python_mean = sum(float(v) for v in values) / len(values)
    assert stacked_mean(values) == pytest.approx(python_mean, rel=1e-15)
    assert stacked_mean([torch.tensor([2.0]), torch.tensor(4.0)]) == 3.0  # (1,) and () shapes


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_window_of_cuda_losses_takes_the_device_path_to_its_mean() -> None:
    scalars = ScalarBuffer()
    for v in (1.0, 2.0, 6.0):
        scalars.update("loss", torch.tensor(v, device="cuda"))
    assert scalars.flush() == {"loss": 3.0}


def _strict(text: str) -> object:
    """``json.loads`` that refuses Python's NaN / Infinity extensions, as strict JSON readers do."""

    def refuse(name: str) -> None:
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_a_record_is_one_strict_json_line_with_null_for_nonfinite_values(tmp_path) -> None:
    record = {"mode": "train", "step": 5, "epoch": 1, "loss": math.inf, "grad_norm": math.nan, "lr": 0.1}
    path = tmp_path / SCALARS_FILE
    append_record(path, record)
    append_record(path, {"mode": "val", "step": 5, "epoch": 1, "accuracy/top1": -math.inf})
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[2:] == [""]  # two lines, each ended
    assert _strict(lines[0]) == {
        "mode": "train",
        "step": 5,
        "epoch": 1,
        "loss": None,
        "grad_norm": None,
        "lr": 0.1,
    }
    assert list(_strict(lines[0])) == list(record)  # the record's order
    assert _strict(lines[1]) == {"mode": "val", "step": 5, "epoch": 1, "accuracy/top1": None}
    assert record["loss"] == math.inf and math.isnan(record["grad_norm"])  # the record is not changed
    assert json_line(record) == lines[0] + "\n"
