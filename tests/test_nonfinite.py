"""``on_nonfinite`` beyond a NaN loss (issue 20, items 12 and 14): a NaN gradient of a finite loss
under ``"skip"``, the limit on iterations skipped in a row, and the losses an accelerator checks in
batches checked before each validation and at the end of training.

The poisoned runs are test_faults.py's (tiny_config: 23 iterations in one epoch, SGD with
momentum); a second hook here poisons gradients through ``before_optimizer_step``, which fires once
the gradients are final and before the step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from customrun_core.errors import NonFiniteLossError
from customrun_core.optim.wrapper import OptimWrapper
from customrun_core.runner import Runner
from customrun_core.testkit import tiny_config
from tests.test_faults import POISON, in_tmp, nonfinite_run, poison

__all__ = ["in_tmp"]  # a fixture of test_faults.py, shared here

GRADIENT_POISON = '''

@register("hooks")
class PoisonGradients(Hook):
    """Puts a NaN in the first parameter's gradient before the steps of the iterations ``at``
    (1-based; the loss stays finite); records each validation."""

    def __init__(self, at):
        self.at, self.validations = set(at), 0

    def before_optimizer_step(self, runner, optim_wrapper):
        if runner.iter + 1 in self.at:
            next(runner.model.parameters()).grad.view(-1)[0] = float("nan")

    def after_val_epoch(self, runner, metrics=None):
        self.validations += 1
'''


def run_with(
    tmp_path: Path, policy: str | None, grads_at: list[int] = (), loss_at: int = 4, **changes: Any
) -> Runner:
    """test_faults' poisoned run (a NaN input at iteration ``loss_at``; 0: none) plus NaN gradients
    at ``grads_at``."""
    hooks = [{"type": "Poison", "at": loss_at}, {"type": "PoisonGradients", "at": list(grads_at)}]
    return nonfinite_run(tmp_path, policy, POISON + GRADIENT_POISON, custom_hooks=hooks, **changes)


def hook(runner: Runner, name: str) -> Any:
    return next(h for h in runner.hooks.plugins if type(h).__name__ == name)


def unchanged(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_skip_leaves_out_a_step_whose_gradient_is_not_finite(in_tmp: Path) -> None:
    """A NaN gradient of a finite loss at iteration 6: that step is left out (no parameter moves,
    as for a NaN loss), every other step is taken and the weights stay finite (before: the NaN went
    into the weights and every later loss was skipped, and the run ended with status 0)."""
    runner = run_with(in_tmp, "skip", grads_at=[6], loss_at=0)
    runner.train()
    params = poison(runner).params
    assert unchanged(params[4], params[5])  # iteration 6's step left out
    assert not any(torch.equal(a, b) for a, b in zip(params[5], params[6], strict=True))
    assert all(torch.isfinite(p).all() for p in params[-1])
    assert runner.optim_wrapper.nonfinite_steps == 1
    log = (in_tmp / "work" / "run.log").read_text(encoding="utf-8")
    assert "step after iteration 6: a gradient is not finite (group.parameter 0.0): step left out" in log


def test_skipping_that_cannot_recover_ends_the_run(in_tmp: Path) -> None:
    """NaN gradients from iteration 4 on, max_nonfinite_skips = 3: iterations 4-6 are skipped,
    the fourth in a row (7) stops the run with one line saying so."""
    runner = run_with(in_tmp, "skip", grads_at=list(range(4, 24)), loss_at=0, max_nonfinite_skips=3)
    with pytest.raises(
        NonFiniteLossError, match=r"4 iterations in a row skipped \(max_nonfinite_skips = 3\)"
    ):
        runner.train()
    assert len(poison(runner).params) == 6  # iterations 1-6 finished; 7 stopped it
    assert all(torch.isfinite(p).all() for p in poison(runner).params[-1])


def test_skips_apart_do_not_add_up(in_tmp: Path) -> None:
    """A NaN loss at 4 and NaN gradients at 6, 8 and 10 with max_nonfinite_skips = 1: never two in a
    row, so the run ends normally with four steps left out."""
    runner = run_with(in_tmp, "skip", grads_at=[6, 8, 10], loss_at=4, max_nonfinite_skips=1)
    runner.train()
    assert runner.optim_wrapper.nonfinite_steps == 4


def test_max_nonfinite_skips_below_one_is_refused(in_tmp: Path, customrun_cli: Any) -> None:
    (in_tmp / "cfg.toml").write_text(tomli_w.dumps(tiny_config(max_nonfinite_skips=0)), encoding="utf-8")
    result = customrun_cli("train", "cfg.toml")
    assert result.exit_code == 2
    [line] = result.stderr_lines
    assert "max_nonfinite_skips" in line and ">= 1" in line


@pytest.fixture
def checked_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU loss treated as a device tensor: its check waits, in batches of 1,000 (more than
    the run's iterations), as on an accelerator."""
    monkeypatch.setattr(OptimWrapper, "_deferred_check", lambda self, loss: self.on_nonfinite != "skip")
    monkeypatch.setattr(OptimWrapper, "nonfinite_check_every", 1000)


def test_a_waiting_check_runs_before_the_validation(in_tmp: Path, checked_in_batches: None) -> None:
    """A NaN loss at iteration 4, no checkpoint: the error comes after the epoch's last iteration
    and before its validation (before: the validation ran on NaN weights and the run ended with
    status 0)."""
    runner = run_with(in_tmp, "error")
    with pytest.raises(NonFiniteLossError, match=r"iteration 4: loss is nan"):
        runner.train()
    assert len(poison(runner).params) == 23
    assert hook(runner, "PoisonGradients").validations == 0


def test_a_waiting_check_runs_at_the_end_of_training(in_tmp: Path, checked_in_batches: None) -> None:
    """Without a validation (val_begin = 2 of 1 epoch) or a checkpoint after it, a NaN loss at the last iteration still stops
    the run as on_nonfinite = "error" says."""
    runner = run_with(
        in_tmp,
        "error",
        loss_at=23,
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 1, "val_begin": 2},
    )
    with pytest.raises(NonFiniteLossError, match=r"iteration 23: loss is nan"):
        runner.train()
