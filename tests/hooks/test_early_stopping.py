"""EarlyStoppingHook: stops at the validation counted by hand from MMEngine's rule (patience,
min_delta, stopping_threshold, check_finite), through the loops' normal end, and resumes exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from customrun_core import Hook
from customrun_core.checkpoint import load
from customrun_core.errors import ConfigError
from customrun_core.hooks.defaults import hook_key
from customrun_core.hooks.early_stopping import EarlyStoppingHook
from customrun_core.runner import Runner
from customrun_core.testing import assert_resume_is_exact, tiny_config

ITERS_PER_EPOCH = 6  # the digits training split (1437 samples) in batches of 256
TRAIN_DATA = {"batch_size": 256, "shuffle": True, "dataset": {"type": "DigitsDataset", "split": "train"}}


class Probe(Hook):
    """Adds the metric ``probe`` to each validation: ``values[k - 1]`` after epoch (iteration) k, a
    value the test chooses. It reads only the run's position, so a resumed run sees the same."""

    def __init__(self, values: list[float], every: int = 1, by_epoch: bool = True) -> None:
        self.values, self.every, self.by_epoch = values, every, by_epoch

    def after_val_epoch(self, runner: Any, metrics: dict[str, float]) -> None:
        step = runner.epoch if self.by_epoch else runner.iter // self.every
        metrics["probe"] = self.values[step - 1]


def stopping(**arguments: Any) -> dict[str, Any]:
    return {"type": "EarlyStoppingHook", "monitor": "probe", **arguments}


def run(
    customrun_run: Any, values: list[float], hook: dict[str, Any], max_epochs: int = 10, **changes: Any
) -> Any:
    return customrun_run(
        hooks=[Probe(values)],
        custom_hooks=[hook],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": max_epochs},
        train_dataloader=TRAIN_DATA,
        **changes,
    )


def stop_line(work_dir: Path) -> str:
    (line,) = [x for x in (work_dir / "run.log").read_text().splitlines() if "EarlyStoppingHook:" in x]
    return line.split(" - ")[-1]


def test_patience_and_min_delta_stop_at_the_epoch_counted_by_hand(customrun_run: Any) -> None:
    # rule greater (given), min_delta 0.5, patience 2; improvement = value >= best + 0.5 (MMEngine's):
    # e1 1.0 best | e2 2.0 >= 1.5 best | e3 2.5 >= 2.5 best (the boundary counts) | e4 2.75 < 3.0
    # wait 1 | e5 1.0 wait 2 = patience: stop after epoch 5 of 10
    values = [1.0, 2.0, 2.5, 2.75, 1.0, 9.0, 9.0, 9.0, 9.0, 9.0]
    result = run(customrun_run, values, stopping(rule="greater", min_delta=0.5, patience=2))
    assert (result.runner.epoch, result.runner.iter) == (5, 5 * ITERS_PER_EPOCH)
    assert stop_line(result.work_dir) == (
        "EarlyStoppingHook: training stops after epoch 5: probe did not improve by min_delta 0.5 in the last"
        " 2 validations (patience 2); best 2.5 at epoch 3"
    )
    # the loops' normal end: the checkpoint after the deciding validation, after_train, after_run
    points = result.points
    last_val = len(points) - 1 - points[::-1].index("after_val")
    assert points[last_val:] == ["after_val", "before_save_checkpoint", "after_train", "after_run"]
    assert len(result.calls_to("after_train_epoch")) == 5
    saved = load(result.work_dir / "epoch_5.pt")
    assert saved["early_stopping"]["probe"] == {"wait_count": 2, "best_score": 2.5, "best_step": 3}
    assert (result.work_dir / "last_checkpoint").read_text() == "epoch_5.pt"


def test_rule_less_is_inferred_from_a_loss_and_min_delta_counts_downwards(customrun_run: Any) -> None:
    # "val_loss" -> less (MMEngine's less keys); improvement = value <= best - 0.25; patience 1:
    # e1 3.0 best | e2 2.75 <= 2.75 best | e3 2.6 > 2.5 wait 1 = patience: stop after epoch 3
    values = [3.0, 2.75, 2.6, 0.0, 0.0, 0.0]

    class LossProbe(Probe):
        def after_val_epoch(self, runner: Any, metrics: dict[str, float]) -> None:
            metrics["val_loss"] = self.values[runner.epoch - 1]

    result = customrun_run(
        hooks=[LossProbe(values)],
        custom_hooks=[{"type": "EarlyStoppingHook", "monitor": "val_loss", "min_delta": 0.25, "patience": 1}],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 6},
        train_dataloader=TRAIN_DATA,
    )
    assert result.runner.epoch == 3
    assert stop_line(result.work_dir).endswith("(patience 1); best 2.75 at epoch 2")


def test_stopping_threshold_stops_once_strictly_passed(customrun_run: Any) -> None:
    # threshold 2.0, rule less: e2 equals it (not passed), e3 passes it; patience never runs out
    result = run(
        customrun_run,
        [5.0, 2.0, 1.5, 1.0, 0.5],
        stopping(rule="less", min_delta=0.0, patience=100, stopping_threshold=2.0),
        max_epochs=5,
    )
    assert result.runner.epoch == 3
    assert stop_line(result.work_dir) == (
        "EarlyStoppingHook: training stops after epoch 3: probe = 1.5 is less than stopping_threshold 2;"
        " best 1.5 at epoch 3"
    )


def test_a_nan_stops_at_once_with_check_finite(customrun_run: Any) -> None:
    result = run(customrun_run, [1.0, math.nan, 2.0, 3.0], stopping(rule="greater", patience=5), max_epochs=4)
    assert result.runner.epoch == 2
    assert stop_line(result.work_dir) == (
        "EarlyStoppingHook: training stops after epoch 2: probe = nan is not finite (check_finite);"
        " best 1 at epoch 1"
    )


def test_without_check_finite_a_nan_counts_as_no_improvement() -> None:
    """MMEngine would take the NaN as the new best and never stop afterwards."""
    hook = EarlyStoppingHook("probe", rule="greater", min_delta=0.0, patience=2, check_finite=False)
    assert [hook._observe(v, i) for i, v in enumerate([1.0, math.nan, 0.5], 1)][-1].startswith(
        "probe did not"
    )
    assert (hook.best_score, hook.best_step, hook.wait_count) == (1.0, 1, 2)


def test_an_iteration_based_run_stops_after_the_deciding_validation(customrun_run: Any) -> None:
    # validation every 4 iterations; patience 1, min_delta 0.1: v1 1.0 | v2 1.05 < 1.1 wait 1: stop at 8
    result = customrun_run(
        hooks=[Probe([1.0, 1.05, 5.0, 5.0, 5.0], every=4, by_epoch=False)],
        custom_hooks=[stopping(rule="greater", patience=1)],
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 20, "val_interval": 4},
        default_hooks={"checkpoint": {"by_epoch": False, "interval": 100}},
    )
    assert result.runner.iter == 8
    assert len(result.calls_to("after_train_epoch")) == 1
    assert result.points[-2:] == ["after_train", "after_run"]
    assert stop_line(result.work_dir).startswith("EarlyStoppingHook: training stops after iteration 8:")
    # interval 100 saved nothing: the stop wrote the last checkpoint
    assert load(result.work_dir / "iter_8.pt")["early_stopping"]["probe"]["best_step"] == 4


def test_a_missing_monitor_warns_once_and_is_skipped(customrun_run: Any) -> None:
    result = customrun_run(
        custom_hooks=[{"type": "EarlyStoppingHook", "monitor": "accuracy/top5", "patience": 0}],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        train_dataloader=TRAIN_DATA,
    )
    assert result.runner.epoch == 2  # never stopped
    warnings = [x for x in (result.work_dir / "run.log").read_text().splitlines() if "not among" in x]
    assert len(warnings) == 1
    assert warnings[0].endswith(
        "EarlyStoppingHook monitors 'accuracy/top5', which is not among the validation metrics (accuracy/top1)"
        " (did you mean 'accuracy/top1'?): early stopping skips these validations (strict = true makes it an"
        " error)"
    )


def test_a_missing_monitor_with_strict_is_one_line_and_exit_2(
    customrun_cli: Any, customrun_config: Any
) -> None:
    config = customrun_config(
        custom_hooks=[{"type": "EarlyStoppingHook", "monitor": "accuracy/top5", "strict": True}]
    )
    result = customrun_cli("train", config)
    assert result.exit_code == 2
    assert result.stderr_lines[-1].endswith(
        ".toml: custom_hooks[0].monitor: EarlyStoppingHook monitors 'accuracy/top5', which is not among the validation metrics"
        " (accuracy/top1) (did you mean 'accuracy/top1'?)"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("monitor", "rule"),
    [
        ("accuracy/top1", "greater"),
        ("mAP", "greater"),
        ("MIOU", "greater"),
        ("loss", "less"),
        ("val_loss", "less"),
    ],
)
def test_the_rule_is_inferred_from_mmengines_key_lists(monitor: str, rule: str) -> None:
    assert EarlyStoppingHook(monitor).rule == rule


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"monitor": "probe"},
            "custom_hooks[0].rule: cannot tell whether a greater or a smaller 'probe' is better",
        ),
        (
            {"monitor": "loss", "rule": "lower"},
            "custom_hooks[0].rule: expected one of 'greater', 'less', got",
        ),
        ({"monitor": "loss", "patience": -1}, "custom_hooks[0].patience: expected an integer >= 0, got -1"),
    ],
)
def test_bad_arguments_are_one_line(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Runner.from_config(tiny_config(custom_hooks=[{"type": "EarlyStoppingHook", **arguments}]))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


# -- resume ------------------------------------------------------------------------------------------

# rule greater, min_delta 0.5, patience 3: best 3.0 at epoch 2, then waits at epochs 3, 4, 5: stop
# after epoch 5 of 7. Checkpoints every 8 iterations (6 per epoch): 16 and 24 fall inside the patience
# (24 ends epoch 4 before its validation).
RESUME_VALUES = [1.0, 3.0, 3.25, 2.0, 3.4, 9.0, 9.0]


def resume_config(directory: Path) -> dict[str, Any]:
    return tiny_config(
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 7},
        train_dataloader=TRAIN_DATA,
        custom_hooks=[Probe(RESUME_VALUES), stopping(rule="greater", min_delta=0.5, patience=3)],
        randomness={"seed": 3, "deterministic": True},
        work_dir=str(directory / "work"),
    )


def test_a_run_resumed_mid_patience_stops_where_the_uninterrupted_run_does(tmp_path: Path) -> None:
    points = assert_resume_is_exact(resume_config(tmp_path), tmp_path, every=8)
    assert points == [8, 16, 24]  # the stop comes after iteration 30
    resumed = Runner.from_config({**resume_config(tmp_path), "resume": str(tmp_path / "full" / "iter_24.pt")})
    resumed.train()
    assert (resumed.epoch, resumed.iter) == (5, 30)
    state = load(tmp_path / "full" / "iter_24.pt")["early_stopping"]["probe"]
    assert state == {"wait_count": 1, "best_score": 3.0, "best_step": 2}  # mid-patience


def test_the_exact_resume_check_fails_without_the_counters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: a resume that starts counting afresh stops later."""
    monkeypatch.setattr(EarlyStoppingHook, "after_load_checkpoint", lambda self, runner, checkpoint: None)
    with pytest.raises(AssertionError, match="differs from the uninterrupted run"):
        assert_resume_is_exact(resume_config(tmp_path), tmp_path, every=8)


def test_a_run_resumed_from_an_epoch_checkpoint_stops_where_the_uninterrupted_run_does(
    tmp_path: Path,
) -> None:
    """epoch_N.pt is written before epoch N's validation and a resumed run does not repeat it: the
    counters after it come from the work directory's early_stopping.json."""
    full = Runner.from_config({**resume_config(tmp_path), "work_dir": str(tmp_path / "full")})
    full.train()
    assert full.epoch == 5
    history = json.loads((tmp_path / "full" / "early_stopping.json").read_text())["probe"]
    assert sorted(history, key=int) == ["6", "12", "18", "24", "30"]  # after each validation
    assert history["18"] == {"wait_count": 1, "best_score": 3.0, "best_step": 2}
    expected = {k: v.clone() for k, v in full.model.state_dict().items()}
    for epoch in (1, 2, 3, 4):
        resumed = Runner.from_config(
            {
                **resume_config(tmp_path),
                "work_dir": str(tmp_path / f"from_{epoch}"),
                "resume": str(tmp_path / "full" / f"epoch_{epoch}.pt"),
            }
        )
        resumed.train()
        assert resumed.epoch == 5, f"resumed from epoch_{epoch}.pt"
        got = resumed.model.state_dict()
        assert all(torch.equal(got[k], v) for k, v in expected.items()), f"resumed from epoch_{epoch}.pt"


def test_without_the_history_an_epoch_checkpoint_resumes_one_validation_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As MMEngine's loop: epoch_3.pt holds the counters before validation 3, and training goes on to
    epoch 7 (e4 2.0 wait 1, e5 3.4 wait 2, e6 9.0 best): the check above can fail."""
    Runner.from_config({**resume_config(tmp_path), "work_dir": str(tmp_path / "full")}).train()
    monkeypatch.setattr(EarlyStoppingHook, "_validated_at", lambda self, runner, meta: None)
    resumed = Runner.from_config(
        {
            **resume_config(tmp_path),
            "work_dir": str(tmp_path / "b"),
            "resume": str(tmp_path / "full" / "epoch_3.pt"),
        }
    )
    resumed.train()
    assert resumed.epoch == 7


def test_load_from_starts_counting_afresh(tmp_path: Path) -> None:
    hook = EarlyStoppingHook("probe", rule="greater")
    checkpoint = {
        "meta": {"epoch": 2, "iter": 12},
        "early_stopping": {"probe": {"wait_count": 2, "best_score": 3.0, "best_step": 2}},
    }
    loop = SimpleNamespace(by_epoch=True, dataloader=[None] * 6)
    runner = SimpleNamespace(cfg=SimpleNamespace(resume=False), train_loop=loop, work_dir=tmp_path)
    hook.after_load_checkpoint(runner, checkpoint)
    assert (hook.wait_count, hook.best_score, hook.best_step) == (0, -math.inf, None)
    runner.cfg.resume = True
    hook.after_load_checkpoint(runner, checkpoint)
    assert (hook.wait_count, hook.best_score, hook.best_step) == (2, 3.0, 2)


def test_the_error_names_the_hook_where_the_config_put_it() -> None:
    """MMEngine configs add it under default_hooks (early_stopping = dict(type=...)) too."""
    cfg = SimpleNamespace(
        default_hooks={"early_stopping": {"type": "EarlyStoppingHook", "monitor": "acc"}},
        custom_hooks=[{"type": "customrun-core:EarlyStoppingHook", "monitor": "loss"}],
        progress=False,
    )
    assert hook_key(cfg, "EarlyStoppingHook", monitor="acc") == "default_hooks.early_stopping"
    assert hook_key(cfg, "EarlyStoppingHook", monitor="loss") == "custom_hooks[0]"
    assert hook_key(cfg, "EarlyStoppingHook", monitor="mAP") is None


def test_a_run_forgets_the_history_after_its_start(tmp_path: Path) -> None:
    """What a run that died, or an earlier run in the work directory, validated later is dropped."""
    state = {"wait_count": 0, "best_score": 1.0, "best_step": 1}
    history = {"probe": {"6": state, "12": state, "18": state}, "loss": {"18": state}}
    (tmp_path / "early_stopping.json").write_text(json.dumps(history))
    EarlyStoppingHook("probe", rule="greater").before_train(
        SimpleNamespace(work_dir=tmp_path, iter=12, rank=0)
    )
    kept = json.loads((tmp_path / "early_stopping.json").read_text())
    assert kept == {"probe": {"6": state, "12": state}, "loss": {"18": state}}
