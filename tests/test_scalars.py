"""ScalarBuffer: window means for recorded values, the latest value for those set as current."""

from __future__ import annotations

import pytest
import torch

from customrun_core.scalars import ScalarBuffer, stacked_mean


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
