"""CheckpointHook's best checkpoint (save_best, rule, greater_keys/less_keys, out_dir, filename_tmpl,
published_keys) against MMEngine's documented names and rules and sequences of metrics worked out
by hand: a probe hook sets the validation's metrics, so which step is best is known in advance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from customrun_core import Hook, Runner
from customrun_core.errors import ConfigError
from customrun_core.hooks.best import infer_rule
from customrun_core.hooks.checkpoint import BEST_KEY, CheckpointHook
from customrun_core.registry import register
from customrun_core.testing import assert_resume_is_exact, tiny_config

FAST = {"batch_size": 512, "shuffle": True, "dataset": {"type": "DigitsDataset", "split": "train"}}


class Scripted(Hook):
    """Sets ``metrics[name]`` to ``values[name][k]`` at the k-th validation (counted from the run's
    position, so a resumed run gets the same values), before the CheckpointHook reads them."""

    priority = "ABOVE_NORMAL"

    def __init__(self, every: int = 1, by_epoch: bool = True, **values: list[float]) -> None:
        self.values, self.every, self.by_epoch = values, every, by_epoch

    def after_val_epoch(self, runner: Any, metrics: dict) -> None:
        done = runner.epoch if self.by_epoch else runner.iter
        for name, sequence in self.values.items():
            metrics[name] = sequence[done // self.every - 1]


register("hooks", "ScriptedMetrics", force=True)(Scripted)


class Listing(Hook):
    """After each validation, after the CheckpointHook: the best files of the work directory."""

    priority = "LOWEST"

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def after_val_epoch(self, runner: Any, metrics: dict) -> None:
        self.seen.append(sorted(p.name for p in Path(runner.work_dir).glob("best_*.pt")))


def train(customrun_run, epochs: int, checkpoint: dict, *hooks: Hook, **changes: Any) -> Any:
    return customrun_run(
        hooks=hooks,
        train_dataloader=FAST,
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": epochs},
        default_hooks={"checkpoint": checkpoint},
        **changes,
    )


def best_steps(work_dir: Path, epochs: int, metric: str) -> list[int]:
    """The best step each epoch's checkpoint holds (the state a resume from it starts with)."""
    return [
        torch.load(work_dir / f"epoch_{n}.pt", weights_only=True)[BEST_KEY][metric]["step"]
        for n in range(1, epochs + 1)
    ]


# -- MMEngine's rule inference (CheckpointHook._init_rule's documented order) ------------------
@pytest.mark.parametrize(
    ("metric", "rule"),
    [
        ("accuracy/top1", "greater"),  # contains 'acc'
        ("acc", "greater"),
        ("Top1", "greater"),  # case-insensitive
        ("bbox_mAP", "greater"),
        ("AR@100", "greater"),
        ("mIoU", "greater"),
        ("loss", "less"),
        ("val/loss_cls", "less"),
        ("top_loss", "greater"),  # greater keys are tried first, as MMEngine does
        ("FID", None),
        ("psnr", None),
    ],
)
def test_rule_is_inferred_as_mmengine_infers_it(metric: str, rule: str | None) -> None:
    from customrun_core.hooks.best import GREATER_KEYS, LESS_KEYS

    assert infer_rule(metric, GREATER_KEYS, LESS_KEYS) == rule


def test_mmengine_default_key_lists() -> None:
    from customrun_core.hooks.best import GREATER_KEYS, LESS_KEYS

    assert GREATER_KEYS == ("acc", "top", "AR@", "auc", "precision", "mAP", "mDice", "mIoU", "mAcc", "aAcc")
    assert LESS_KEYS == ("loss",)


@pytest.mark.parametrize(
    ("arguments", "key", "text"),
    [
        ({"save_best": "FID"}, "rule", "cannot tell whether a greater or a smaller 'FID' is better"),
        ({"save_best": "acc", "rule": "bigger"}, "rule", 'expected "greater" or "less"'),
        ({"save_best": ["acc", "loss", "top"], "rule": ["less", "greater"]}, "rule", "one per save_best"),
        ({"save_best": ["auto", "acc"]}, "save_best", 'expected "auto" alone'),
        ({"save_best": ["acc", "acc"]}, "save_best", "expected distinct names"),
        ({"save_best": 3}, "save_best", "expected a name or an array of names"),
        ({"filename_tmpl": "ckpt.pt"}, "filename_tmpl", 'one "{}"'),
        ({"filename_tmpl": "ckpt_{epoch}_{}.pt"}, "filename_tmpl", 'one "{}"'),
    ],
)
def test_bad_arguments_are_refused_when_built(arguments: dict, key: str, text: str) -> None:
    with pytest.raises(ConfigError, match=r".") as caught:
        CheckpointHook(**arguments)
    assert caught.value.key == key
    assert text in caught.value.message
    assert "\n" not in str(caught.value)


def test_custom_keys_decide_the_rule() -> None:
    hook = CheckpointHook(save_best=["FID", "psnr"], greater_keys="psnr", less_keys=["fid"])
    assert hook.rules == {"FID": "less", "psnr": "greater"}
    hook = CheckpointHook(save_best=["FID", "IS"], rule=["less", "greater"])  # MMEngine's example
    assert hook.rules == {"FID": "less", "IS": "greater"}


def test_without_save_best_the_hook_takes_no_part_in_validation_or_saves() -> None:
    hook = CheckpointHook()
    for point in ("after_val_epoch", "before_save_checkpoint", "after_load_checkpoint", "before_train"):
        assert not hasattr(hook, point)


# -- names, sequences, removal ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "values", "steps"),
    [
        ("greater", [0.5, 0.7, 0.6, 0.9, 0.9], [1, 2, 2, 4, 4]),  # the tie at 5 keeps epoch 4
        ("less", [0.5, 0.7, 0.6, 0.9, 0.9], [1, 1, 1, 1, 1]),
        ("less", [3.0, 2.0, 2.5, 1.0, 5.0], [1, 2, 2, 4, 4]),
    ],
)
def test_best_epoch_follows_the_rule(customrun_run, rule: str, values: list[float], steps: list[int]) -> None:
    listing = Listing()
    run = train(customrun_run, 5, {"save_best": "score", "rule": rule}, Scripted(score=values), listing)
    assert best_steps(run.work_dir, 5, "score") == steps
    # MMEngine's name, the previous best removed each time a new one is written
    assert listing.seen == [[f"best_score_epoch_{step}.pt"] for step in steps]
    marker = json.loads((run.work_dir / "best_checkpoints.json").read_text())
    assert marker == {
        "score": {
            "path": f"best_score_epoch_{steps[-1]}.pt",
            "score": values[steps[-1] - 1],
            "step": steps[-1],
            "rule": rule,
        }
    }


def test_metric_name_with_slash_and_auto(customrun_run) -> None:
    """ "auto" takes the first metric of the first validation (Accuracy's accuracy/top1)."""
    listing = Listing()
    train(customrun_run, 3, {"save_best": "auto"}, Scripted(**{"accuracy/top1": [70.0, 90.0, 80.0]}), listing)
    assert listing.seen[-1] == ["best_accuracy_top1_epoch_2.pt"]


def test_iteration_counting_names_iter_n(customrun_run) -> None:
    listing = Listing()
    customrun_run(
        hooks=[Scripted(every=4, by_epoch=False, loss=[3.0, 1.0, 2.0]), listing],
        train_dataloader=FAST,
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 12, "val_interval": 4},
        default_hooks={"checkpoint": {"by_epoch": False, "interval": 4, "save_best": "loss"}},
    )
    assert listing.seen == [["best_loss_iter_4.pt"], ["best_loss_iter_8.pt"], ["best_loss_iter_8.pt"]]


def test_several_metrics_each_keep_their_best(customrun_run) -> None:
    listing = Listing()
    values = {"accuracy/top1": [1.0, 3.0, 2.0], "loss": [5.0, 6.0, 4.0]}
    run = train(customrun_run, 3, {"save_best": ["accuracy/top1", "loss"]}, Scripted(**values), listing)
    assert listing.seen == [
        ["best_accuracy_top1_epoch_1.pt", "best_loss_epoch_1.pt"],
        ["best_accuracy_top1_epoch_2.pt", "best_loss_epoch_1.pt"],
        ["best_accuracy_top1_epoch_2.pt", "best_loss_epoch_3.pt"],
    ]
    state = torch.load(run.work_dir / "best_loss_epoch_3.pt", weights_only=True)[BEST_KEY]
    assert {m: (e["score"], e["step"]) for m, e in state.items()} == {
        "accuracy/top1": (3.0, 2),
        "loss": (4.0, 3),
    }


def test_iteration_loop_counted_in_epochs_is_refused(customrun_run) -> None:
    """by_epoch = true given with an iteration-based loop is refused when the config is checked;
    left out, it follows the loop (issue 21, item 3: it used to default to true, refused only here
    and only with save_best)."""
    with pytest.raises(ConfigError, match="by_epoch = true counts epochs") as caught:
        customrun_run(
            train_dataloader=FAST,
            train_cfg={"type": "IterBasedTrainLoop", "max_iters": 4, "val_interval": 2},
            default_hooks={"checkpoint": {"save_best": "auto", "by_epoch": True}},
        )
    assert caught.value.key == "default_hooks.checkpoint.by_epoch"
    customrun_run(
        train_dataloader=FAST,
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 4, "val_interval": 2},
        default_hooks={"checkpoint": {"save_best": "auto"}},
    )
    names = sorted(p.name for p in Path("work").glob("*.pt"))
    best = [name for name in names if name.startswith("best_")]
    # interval: the loop's val_interval
    assert [name for name in names if name not in best] == ["iter_2.pt", "iter_4.pt"]
    assert len(best) == 1 and best[0] in ("best_accuracy_top1_iter_2.pt", "best_accuracy_top1_iter_4.pt")


def test_unknown_metric_stops_at_the_first_validation_with_a_checkpoint(customrun_run) -> None:
    with pytest.raises(ConfigError) as caught:
        train(customrun_run, 3, {"interval": 2, "save_best": "accuracy/top"})
    error = caught.value
    assert error.key == "default_hooks.checkpoint.save_best"
    assert "expected a metric the validation reports (accuracy/top1), got 'accuracy/top'" in error.message
    assert error.suggestions == ["accuracy/top1"]
    work = Path("work")
    assert (work / "epoch_1.pt").is_file()  # interval 2 would not have written it
    assert (work / "last_checkpoint").read_text() == "epoch_1.pt"


# -- resume -----------------------------------------------------------------------------------
def test_resumed_run_compares_with_the_stored_best(customrun_run) -> None:
    """Epoch 2 is best (3.0); a run resumed from epoch_2.pt must not take epoch 3 (2.0) for a new best.
    epoch_2.pt was written before epoch 2's validation: it holds the new best because it is
    refreshed after it, as MMEngine saves it again."""
    checkpoint, values = {"save_best": "score", "rule": "greater"}, Scripted(score=[1.0, 3.0, 2.0])
    whole = train(customrun_run, 3, checkpoint, values, work_dir="whole")
    train(customrun_run, 2, checkpoint, values, work_dir="parts")
    listing = Listing()
    parts = train(customrun_run, 3, checkpoint, values, listing, work_dir="parts", resume=True)
    assert listing.seen == [["best_score_epoch_2.pt"]]
    for name in ("best_checkpoints.json",):
        assert (parts.work_dir / name).read_text() == (whole.work_dir / name).read_text()
    assert best_steps(parts.work_dir, 3, "score") == best_steps(whole.work_dir, 3, "score") == [1, 2, 2]


@pytest.mark.parametrize("broken", ["customrun_core.checkpoint.link_atomic", "no-restore"])
def test_the_resume_check_fails_without_the_refresh_or_the_restore(
    customrun_run, monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    """The check above can fail: with epoch_2.pt not refreshed after its validation, or the stored
    best not read back, the resumed run takes epoch 3 for a new best (and with a stale best, it
    even leaves epoch 2's file behind)."""
    if broken == "no-restore":
        monkeypatch.setattr(CheckpointHook, "_after_load_checkpoint", lambda self, runner, checkpoint: None)
    else:
        monkeypatch.setattr(broken, lambda source, path: None)
    checkpoint, values = {"save_best": "score", "rule": "greater"}, Scripted(score=[1.0, 3.0, 2.0])
    train(customrun_run, 2, checkpoint, values)
    listing = Listing()
    train(customrun_run, 3, checkpoint, values, listing, resume=True)
    assert "best_score_epoch_3.pt" in listing.seen[0]


def test_load_from_starts_its_own_best(customrun_run) -> None:
    checkpoint = {"save_best": "score", "rule": "greater"}
    first = train(customrun_run, 1, checkpoint, Scripted(score=[9.0]), work_dir="first")
    listing = Listing()
    load_from = str(first.work_dir / "epoch_1.pt")
    train(
        customrun_run, 1, checkpoint, Scripted(score=[1.0]), listing, work_dir="second", load_from=load_from
    )
    assert listing.seen == [["best_score_epoch_1.pt"]]


def test_resume_is_exact_with_save_best(tmp_path: Path) -> None:
    """The exact-resume check (its own periodic CheckpointHook every 7 iterations) with a second
    CheckpointHook keeping the best of a scripted loss: the best state in every checkpoint included."""
    model = {"type": "MLP", "in_features": 64, "num_classes": 10, "hidden_features": [32], "dropout": 0.3}
    config = tiny_config(
        model={"type": "ClassifierModel", "backbone": model},
        train_cfg={"type": "IterBasedTrainLoop", "max_iters": 30, "val_interval": 10},
        randomness={"seed": 3, "deterministic": True},
        custom_hooks=[
            {"type": "ScriptedMetrics", "every": 10, "by_epoch": False, "loss": [2.0, 1.0, 1.5]},
            {
                "type": "CheckpointHook",
                "by_epoch": False,
                "interval": -1,
                "save_last": False,
                "save_best": "loss",
            },
        ],
    )
    points = assert_resume_is_exact(config, tmp_path, every=7)
    assert points == [7, 14, 21, 28]
    saved = torch.load(tmp_path / "full" / "iter_28.pt", weights_only=True)[BEST_KEY]
    assert saved == {"loss": {"score": 1.0, "step": 20, "file": "best_loss_iter_20.pt"}}
    for point in points:
        assert sorted(p.name for p in (tmp_path / f"from_{point}").glob("best_*.pt")) == (
            ["best_loss_iter_20.pt"] if point < 20 else []  # the best of iteration 20 is in full/
        )


# -- out_dir, filename_tmpl, published_keys ----------------------------------------------------
def test_out_dir_and_filename_tmpl_as_mmengine(customrun_run, tmp_path: Path) -> None:
    checkpoint = {
        "save_best": "score",
        "rule": "less",
        "out_dir": str(tmp_path / "out"),
        "filename_tmpl": "ckpt_{}.pt",
    }
    run = train(customrun_run, 2, checkpoint, Scripted(score=[2.0, 1.0]))
    out = tmp_path / "out" / "work"  # out_dir joined with the work directory's name
    assert sorted(p.name for p in out.iterdir()) == ["best_score_ckpt_2.pt", "ckpt_1.pt", "ckpt_2.pt"]
    assert (run.work_dir / "last_checkpoint").read_text() == str(out / "ckpt_2.pt")
    marker = json.loads((run.work_dir / "best_checkpoints.json").read_text())
    assert marker["score"]["path"] == str(out / "best_score_ckpt_2.pt")


def test_published_keys_keep_only_those_keys(customrun_run) -> None:
    checkpoint = {"save_best": "score", "rule": "greater", "published_keys": ["meta", "state_dict"]}
    run = train(customrun_run, 2, checkpoint, Scripted(score=[2.0, 1.0]))
    published = sorted(p.name for p in run.work_dir.glob("*-*.pt"))
    assert [name.rsplit("-", 1)[0] for name in published] == ["best_score_epoch_1", "epoch_2"]
    for name in published:
        data = (run.work_dir / name).read_bytes()
        assert name.endswith(f"-{hashlib.sha256(data).hexdigest()[:8]}.pt")
        assert sorted(torch.load(run.work_dir / name, weights_only=True)) == ["meta", "state_dict"]


def test_runner_val_outside_training_writes_no_best(customrun_run) -> None:
    run = customrun_run(mode="val", default_hooks={"checkpoint": {"save_best": "auto"}})
    assert not list(run.work_dir.glob("best_*.pt"))
    assert isinstance(run.runner, Runner)


def test_sharded_best_checkpoints_are_directories(torchrun_env: None, customrun_run) -> None:
    """FSDP (a group of one): the best is a .dcp directory, the previous one removed, and the
    periodic checkpoint of the step saved again with the new best (no file to link)."""
    from customrun_core import checkpoint as ckpt

    checkpoint, values = {"save_best": "score", "rule": "greater"}, Scripted(score=[1.0, 3.0, 2.0])
    run = train(customrun_run, 3, checkpoint, values, launcher="torchrun", model_wrapper_cfg={"type": "FSDP"})
    assert sorted(p.name for p in run.work_dir.glob("best_*.dcp")) == ["best_score_epoch_2.dcp"]
    marker = json.loads((run.work_dir / "best_checkpoints.json").read_text())
    assert marker["score"]["path"] == "best_score_epoch_2.dcp"
    steps = [ckpt.load(run.work_dir / f"epoch_{n}.dcp")[BEST_KEY]["score"]["step"] for n in (1, 2, 3)]
    assert steps == [1, 2, 2]


def test_a_resume_with_other_save_best_metrics_forgets_the_old_ones(customrun_run) -> None:
    values = Scripted(score=[1.0, 3.0, 2.0], loss=[3.0, 2.0, 1.0])
    train(customrun_run, 2, {"save_best": ["score", "loss"], "rule": "greater"}, values)
    run = train(customrun_run, 3, {"save_best": "loss"}, values, resume=True)
    marker = json.loads((run.work_dir / "best_checkpoints.json").read_text())
    assert list(marker) == ["loss"]
    # loss's stored best (3.0 at epoch 1, kept under "greater") is compared under "less" now: 1.0 beats it
    assert (marker["loss"]["score"], marker["loss"]["step"], marker["loss"]["rule"]) == (1.0, 3, "less")
