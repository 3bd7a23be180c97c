"""torchmetrics metrics as val_evaluator / test_evaluator: results, names, errors, start-up."""

from __future__ import annotations

import importlib.abc
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from customrun_core.datasets.digits import DigitsDataset
from customrun_core.errors import ComponentError, ConfigError
from customrun_core.metrics.evaluator import Evaluator, tables_to_check
from customrun_core.metrics.torchmetrics_adapter import flatten, snake_case
from customrun_core.testing import tiny_config

pytest.importorskip("torchmetrics")

ACCURACY = "torchmetrics.classification:MulticlassAccuracy"
F1 = "torchmetrics.classification:MulticlassF1Score"


def _hand_accuracy(model: torch.nn.Module, split: str = "val") -> tuple[float, list[float]]:
    """Accuracy and per-class recall of ``model`` on a digits split (val), counted by hand."""
    data = DigitsDataset(split=split)
    inputs = torch.stack([data[i][0] for i in range(len(data))])
    targets = torch.tensor([int(data[i][1]) for i in range(len(data))])
    model.eval()
    with torch.no_grad():
        predicted = model(inputs, mode="predict").argmax(dim=1)
    hits = predicted == targets
    recalls = [float(hits[targets == c].float().mean()) for c in range(10)]
    return float(hits.float().mean()), recalls


def test_multiclass_accuracy_equals_a_hand_computed_accuracy(customrun_run: Any) -> None:
    evaluator = [
        {"type": ACCURACY, "num_classes": 10, "average": "micro"},
        {"type": ACCURACY, "num_classes": 10, "name": "macro_accuracy"},  # torchmetrics' default: macro
    ]
    result = customrun_run(val_evaluator=evaluator)
    accuracy, recalls = _hand_accuracy(result.runner.model)
    assert result.metrics is not None
    assert set(result.metrics) == {"multiclass_accuracy", "macro_accuracy"}
    assert result.metrics["multiclass_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert result.metrics["macro_accuracy"] == pytest.approx(sum(recalls) / 10, abs=1e-6)
    logged = [json.loads(line) for line in (result.work_dir / "scalars.jsonl").read_text().splitlines()]
    val = [record for record in logged if record["mode"] == "val"]
    assert val[-1]["multiclass_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_a_metric_collection_logs_its_members_under_their_names(customrun_run: Any) -> None:
    collection = {
        "type": "torchmetrics:MetricCollection",
        "prefix": "val_",
        "metrics": [
            {"type": ACCURACY, "num_classes": 10, "average": "micro"},
            {"type": ACCURACY, "num_classes": 10, "average": "none", "name": "recall"},
        ],
    }
    result = customrun_run(val_evaluator=collection, test_evaluator=collection, mode="test")
    accuracy, recalls = _hand_accuracy(result.runner.model, "test")  # the held-out split (issue 21, item 4)
    expected = {"val_multiclass_accuracy": accuracy, **{f"val_recall/{c}": r for c, r in enumerate(recalls)}}
    assert result.metrics == pytest.approx(expected, abs=1e-6)


def test_a_collection_as_a_table_of_named_metrics_and_a_named_collection(customrun_run: Any) -> None:
    collection = {
        "type": "torchmetrics.MetricCollection",
        "name": "cls",
        "metrics": {
            "acc": {"type": ACCURACY, "num_classes": 10, "average": "micro"},
            "f1": {"type": F1, "num_classes": 10},
        },
    }
    result = customrun_run(val_evaluator=collection)
    accuracy, _ = _hand_accuracy(result.runner.model)
    assert result.metrics is not None and set(result.metrics) == {"cls/acc", "cls/f1"}
    assert result.metrics["cls/acc"] == pytest.approx(accuracy, abs=1e-6)


def test_reduce_on_plateau_monitors_a_torchmetrics_result(customrun_run: Any) -> None:
    """rule "less" on an accuracy that rises: the lr halves after each validation that is not lower."""
    scheduler = {"type": "ReduceOnPlateauLR", "monitor": "multiclass_accuracy", "rule": "less", "patience": 0,
                 "factor": 0.5}  # fmt: skip
    result = customrun_run(
        val_evaluator={"type": ACCURACY, "num_classes": 10, "average": "micro"},
        param_scheduler=[scheduler],
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 4},
    )
    records = [json.loads(line) for line in (result.work_dir / "scalars.jsonl").read_text().splitlines()]
    metrics = [r["multiclass_accuracy"] for r in records if r["mode"] == "val"]
    lrs = {r["epoch"]: r["lr"] for r in records if r["mode"] == "train"}  # the last lr of each epoch
    expected, lr, best = [0.1], 0.1, float("inf")
    for metric in metrics[:-1]:  # torch's rule, by hand (threshold 1e-4, relative)
        if metric < best * (1 - 1e-4):
            best = metric
        else:
            lr *= 0.5
        expected.append(lr)
    assert len(metrics) == 4 and [lrs[e] for e in range(1, 5)] == pytest.approx(expected)
    assert expected[-1] < 0.1  # the rule did reduce


@pytest.mark.parametrize(
    ("evaluator", "key", "message"),
    [
        (
            {"type": ACCURACY, "num_classes": 10, "averag": "micro"},
            "val_evaluator.averag",
            "MulticlassAccuracy has no argument 'averag'",
        ),
        (
            {"type": ACCURACY, "num_classes": 10, "average": "mean"},
            "val_evaluator.average",
            "expected one of 'micro', 'macro', 'weighted', 'none', got string 'mean'",
        ),
        (
            [{"type": "Accuracy"}, {"type": ACCURACY, "num_classes": "ten"}],
            "val_evaluator[1].num_classes",
            "expected an integer",
        ),
        (
            {"type": "torchmetrics:MetricCollection", "metrics": [{"type": F1, "num_clases": 10}]},
            "val_evaluator.metrics[0].num_clases",
            "MulticlassF1Score has no argument 'num_clases'",
        ),
    ],
    ids=["misspelt", "wrong-choice", "wrong-type-in-array", "misspelt-in-collection"],
)
def test_a_wrong_argument_is_one_line_at_its_key_path(
    customrun_cli: Any, customrun_config: Any, evaluator: Any, key: str, message: str
) -> None:
    config = customrun_config(val_evaluator=evaluator)
    result = customrun_cli("train", config)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0].startswith(f"error: {config}: {key}: "), result.stderr
    assert message in result.stderr_lines[0]
    assert not (config.parent / "work" / "epoch_1.pt").exists()  # refused before training


def test_a_value_torchmetrics_refuses_is_one_line(customrun_cli: Any, customrun_config: Any) -> None:
    config = customrun_config(val_evaluator={"type": ACCURACY, "num_classes": 1})
    result = customrun_cli("train", config)
    assert result.exit_code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0].startswith(
        f"error: {config}: val_evaluator: MulticlassAccuracy refused its"
    )


def test_two_metrics_under_one_name_are_refused() -> None:
    table = {"type": ACCURACY, "num_classes": 10}
    with pytest.raises(ConfigError, match=r"val_evaluator\[1\]: val_evaluator\[0\] already logs its results"):
        Evaluator.from_config([table, {**table, "top_k": 2}], "val_evaluator")
    Evaluator.from_config([table, {**table, "top_k": 2, "name": "top2"}], "val_evaluator")


def test_the_check_sees_the_members_of_a_collection() -> None:
    member = {"type": F1, "num_classes": 10}
    collection = {"type": "torchmetrics:MetricCollection", "metrics": [member]}
    assert tables_to_check([{"type": "Accuracy"}, collection], "val_evaluator") == [
        ("val_evaluator[0]", {"type": "Accuracy"}),
        ("val_evaluator[1]", collection),
        ("val_evaluator[1].metrics[0]", member),
    ]


def test_predictions_and_targets_by_key() -> None:
    import torchmetrics

    evaluator = Evaluator.from_config(
        {
            "type": ACCURACY,
            "num_classes": 3,
            "average": "micro",
            "preds_key": "logits",
            "target_key": "label",
        },
        "val_evaluator",
    )
    evaluator.reset()
    logits = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.0, 0.2, 0.7], [0.6, 0.3, 0.1]])
    evaluator.process({"inputs": None, "label": torch.tensor([0, 1, 1, 0])}, {"logits": logits})
    assert evaluator.evaluate() == {"multiclass_accuracy": pytest.approx(0.75)}
    built = Evaluator([torchmetrics.classification.BinaryAccuracy()])  # a built metric: adapted
    built.process((None, torch.tensor([1, 0])), torch.tensor([0.9, 0.8]))
    assert built.evaluate() == {"binary_accuracy": pytest.approx(0.5)}
    with pytest.raises(ConfigError, match=r"target_key 'label' is not in the batch \(inputs, targets\)"):
        evaluator.process({"inputs": None, "targets": None}, {"logits": logits})
    with pytest.raises(ConfigError, match=r"val_step/test_step is a dict \(logits\); set preds_key"):
        Evaluator.from_config({"type": ACCURACY, "num_classes": 3}, "k").process(
            (None, None), {"logits": logits}
        )


def test_names_and_flattening() -> None:
    assert [snake_case(n) for n in ("MulticlassAccuracy", "MulticlassAUROC", "F1Score", "R2Score")] == [
        "multiclass_accuracy", "multiclass_auroc", "f1_score", "r2_score"]  # fmt: skip
    nested = {"a": torch.tensor(0.5), "b": torch.tensor([1.0, 2.0]), "c": {"d": 3}, "e": "text"}
    assert flatten("m", nested) == {"m/a": 0.5, "m/b/0": 1.0, "m/b/1": 2.0, "m/c/d": 3.0}
    assert flatten("", {"x": torch.tensor([4.0])}) == {"x": 4.0}


def test_arbitrary_callables_are_still_refused() -> None:
    from customrun_core import registry

    for path in ("os:system", "torchmetrics.functional:accuracy", "torch.nn:Linear"):
        with pytest.raises(
            ComponentError, match=r"an import path (must name a component class|never imports)"
        ):
            registry.resolve("metrics", path)


class _NotInstalled(importlib.abc.MetaPathFinder):
    """Finds no torchmetrics, as when it is not installed."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.partition(".")[0] == "torchmetrics":
            raise ModuleNotFoundError(f"No module named {fullname!r}", name="torchmetrics")


def test_without_torchmetrics_the_error_says_what_to_install(
    customrun_cli: Any, customrun_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "torchmetrics" or m.startswith("torchmetrics.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NotInstalled(), *sys.meta_path])
    config = customrun_config(val_evaluator={"type": ACCURACY, "num_classes": 10})
    result = customrun_cli("train", config)
    assert result.exit_code == 2 and len(result.stderr_lines) == 1, result.stderr
    assert result.stderr_lines[0] == (
        f"error: {config}: val_evaluator.type: metric {ACCURACY!r}: torchmetrics is not installed: "
        "pip install 'customrun-core[metrics]'"
    )


def test_help_and_plugins_do_not_import_torchmetrics(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom customrun_core.cli import cli\n"
        "for args in (['--help'], ['plugins']):\n"
        "    try:\n        cli(args, prog_name='customrun')\n    except SystemExit as exit:\n"
        "        assert not exit.code, exit.code\n"
        "print('IMPORTED', sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torchmetrics'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.rpartition("IMPORTED ")[2].strip() == "[]", done.stdout


def test_a_built_metric_from_python_is_adapted(tmp_path: Path, customrun_isolated: None) -> None:
    from torchmetrics.classification import MulticlassAccuracy

    from customrun_core import Runner

    built = MulticlassAccuracy(num_classes=10, average="micro")
    cfg = tiny_config(val_evaluator=[{"type": "Accuracy"}, built], work_dir=str(tmp_path / "work"))
    runner = Runner.from_config(cfg)
    runner.train()
    metrics = runner.val()
    assert metrics["multiclass_accuracy"] == pytest.approx(metrics["accuracy/top1"] / 100, abs=1e-6)
