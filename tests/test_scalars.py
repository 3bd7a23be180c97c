"""ScalarBuffer: window means for recorded values, the latest value for those set as current."""

from __future__ import annotations

import torch

from customrun_core.scalars import ScalarBuffer


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
