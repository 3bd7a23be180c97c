"""Issue 22, item 1: what customrun's component does not take is reported per key path and left out,
found by the pre-flight check ``customrun train`` runs; a config convert reports clean passes it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from customrun_core import assembly, registry
from customrun_core.cli import cli
from customrun_core.config import load_config
from customrun_core.convert import convert_file, to_toml
from customrun_core.errors import ConfigError

SCHEDULE = (
    "default_hooks = dict(\n"
    "    logger=dict(type='LoggerHook', interval=5, log_metric_by_epoch=False, log_every_rank=True),\n"
    "    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2, save_optimizer_only=True),\n"
    ")\n"
    "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, eps=1e-8))\n"
    "param_scheduler = [\n"
    "    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10, warmup='linear'),\n"
    "    dict(type='MultiStepLR', milestones=[1], gamma=0.1),\n"
    "]\n"
)


pytestmark = pytest.mark.usefixtures("customrun_isolated")  # what custom_imports registered is undone


def preflight(toml: Path) -> None:
    """What ``customrun train`` checks before it builds anything (the Runner's own two steps)."""
    cfg = load_config(toml)
    assembly.prepare(cfg)
    assembly.check(cfg)


BASE = (  # the model and the data a converted fragment is given
    'model = { type = "ClassifierModel", backbone = { type = "MLP", in_features = 64, num_classes = 10 } }\n'
    'train_dataloader = { batch_size = 8, dataset = { type = "DigitsDataset", split = "train" } }\n'
    'train_cfg = { type = "EpochBasedTrainLoop", max_epochs = 1 }\n'
)


def converted_over_a_base(tmp_path: Path, data: dict) -> Path:
    """The converted fragment over a base that gives the model and the data, as the seed twins are."""
    (tmp_path / "base.toml").write_text(BASE)
    toml = tmp_path / "converted.toml"
    toml.write_text('extends = "base.toml"\n' + to_toml(data, "cfg.py"))
    return toml


def test_arguments_the_component_does_not_take_are_reported_and_left_out(tmp_path: Path) -> None:
    (tmp_path / "cfg.py").write_text(SCHEDULE)
    conversion = convert_file(tmp_path / "cfg.py")
    reports = {r.key: r.message for r in conversion.reports}
    assert set(reports) == {
        "default_hooks.logger.log_every_rank",
        "default_hooks.checkpoint.save_optimizer_only",
        "optim_wrapper.optimizer.eps",
        "param_scheduler[0].warmup",
    }
    assert reports["optim_wrapper.optimizer.eps"].startswith("SGD has no argument 'eps' (it takes lr, ")
    assert reports["param_scheduler[0].warmup"].endswith(", left out")
    assert conversion.data["default_hooks"]["logger"] == {
        "type": "LoggerHook",
        "interval": 5,
        "log_metric_by_epoch": False,  # LoggerHook takes it (issue 19): kept
    }
    assert conversion.data["optim_wrapper"]["optimizer"] == {"type": "SGD", "lr": 0.01, "momentum": 0.9}
    assert conversion.data["param_scheduler"][0] == {
        "type": "LinearLR",
        "start_factor": 0.1,
        "by_epoch": False,
        "begin": 0,
        "end": 10,
    }


def test_strict_fails_on_an_argument_left_out(tmp_path: Path) -> None:
    (tmp_path / "cfg.py").write_text(SCHEDULE)
    result = CliRunner().invoke(cli, ["convert", str(tmp_path / "cfg.py"), "--strict"])
    assert result.exit_code == 1
    assert "optim_wrapper.optimizer.eps: SGD has no argument 'eps'" in result.stderr
    assert result.stderr.strip().endswith("4 key paths not translated (--strict): nothing written")


def test_a_config_convert_reports_clean_passes_trains_preflight(tmp_path: Path) -> None:
    (tmp_path / "cfg.py").write_text(SCHEDULE)
    conversion = convert_file(tmp_path / "cfg.py")
    preflight(converted_over_a_base(tmp_path, conversion.data))  # raises nothing
    # the reference: what convert left out is exactly what train refuses
    for key, value in (("log_every_rank", True), ("save_optimizer_only", True)):
        data = conversion.data | {"default_hooks": dict(conversion.data["default_hooks"])}
        hook = "logger" if key == "log_every_rank" else "checkpoint"
        data["default_hooks"][hook] = {**data["default_hooks"][hook], key: value}
        with pytest.raises(ConfigError, match=f"has no argument '{key}'"):
            preflight(converted_over_a_base(tmp_path, data))


def test_own_components_are_checked_against_the_signature_in_their_source(tmp_path: Path) -> None:
    (tmp_path / "my_hooks.py").write_text(
        "from customrun_core import Hook, register\n"
        "@register('hooks')\n"
        "class MyHook(Hook):\n"
        "    def __init__(self, a, b=1, *, c=2):\n"
        "        self.a, self.b, self.c = a, b, c\n"
    )
    (tmp_path / "cfg.py").write_text(
        "custom_imports = dict(imports=['my_hooks'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='MyHook', a=1, c=3), dict(type='MyHook', a=1, d=4), dict(type='MyHook')]\n"
    )
    conversion = convert_file(tmp_path / "cfg.py", module_dirs=[tmp_path])
    assert [r.render().split(": ", 1)[1] for r in conversion.reports] == [
        "custom_hooks[1].d: MyHook has no argument 'd' (it takes a, b, c), left out",
        "custom_hooks[2].a: required argument is missing: customrun train refuses this until it is given"
        " (what follows it is not checked)",
    ]
    assert conversion.data["custom_hooks"][:2] == [
        {"type": "MyHook", "a": 1, "c": 3},
        {"type": "MyHook", "a": 1},
    ]
    assert "MyHook" not in registry.known_names("hooks")  # convert imported nothing, registered nothing
