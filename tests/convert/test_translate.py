"""Translation to customrun's keys: what is kept, moved, and reported (by key path) and left out."""

from __future__ import annotations

from pathlib import Path

from customrun_core.convert import convert_file


def convert(tmp_path: Path, source: str, **files: str):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "cfg.py").write_text(source)
    conversion = convert_file(tmp_path / "cfg.py", module_dirs=[tmp_path])
    return conversion.data, {r.key: r.message for r in conversion.reports}


def test_mmengine_only_keys_are_reported_and_helpers_are_not(tmp_path: Path) -> None:
    data, reports = convert(
        tmp_path,
        "lr = 0.1\n_private = 3\nvisualizer = dict(type='Visualizer')\nlog_level = 'INFO'\n"
        "optim_wraper = dict(optimizer=dict(type='SGD', lr=lr))\nwork_dir = './runs'\n",
    )
    assert data == {"work_dir": "./runs"}
    assert reports == {
        "visualizer": "no customrun twin, left out",
        "log_level": "no customrun twin, left out",
        "optim_wraper": "not a customrun key, left out (did you mean 'optim_wrapper'?)",
    }


def test_a_key_changed_in_place_is_still_a_key_not_a_helper(tmp_path: Path) -> None:
    data, reports = convert(
        tmp_path,
        "visualizer = dict(type='V')\nvisualizer['x'] = 1\nlog_level = 'INFO'\nlog_level += '!'\n"
        "lr = 0.1\nlr = lr * 2\nwork_dir = './runs'\n",
    )
    assert data == {"work_dir": "./runs"}
    assert reports == {
        "visualizer": "no customrun twin, left out",
        "log_level": "no customrun twin, left out",
        "lr": "not a customrun key, left out",
    }


def test_an_unknown_type_leaves_its_table_out_and_suggests(tmp_path: Path) -> None:
    data, reports = convert(
        tmp_path,
        "param_scheduler = [dict(type='LinearLR', end=5), dict(type='MultiStepLRR', milestones=[3])]\n"
        "optim_wrapper = dict(optimizer=dict(type='SGDD', lr=0.1))\n"
        "custom_hooks = [dict(type='NewHook', a=1), dict(type='mmdet.NewHook', a=2)]\n"
        "custom_imports = dict(imports=['my_hooks'])\n",
        **{
            "my_hooks.py": "from customrun_core import register, Hook\n@register('hooks')\nclass NewHook(Hook):\n    pass\n"
        },
    )
    assert data["param_scheduler"] == [{"type": "LinearLR", "end": 5}]
    assert "optim_wrapper" not in data
    assert data["custom_hooks"] == [{"type": "NewHook", "a": 1}, {"type": "NewHook", "a": 2}]
    assert reports["param_scheduler[1].type"].startswith(
        "unknown parameter scheduler 'MultiStepLRR': no customrun twin (did you mean 'MultiStepLR'"
    )
    assert reports["param_scheduler[1].type"].endswith("; it is left out")
    assert reports["optim_wrapper.optimizer.type"].endswith("; optim_wrapper is left out")
    assert (
        reports["custom_hooks[1].type"]
        == "the scoped name 'mmdet.NewHook' becomes 'NewHook' (customrun has no scopes)"
    )


def test_a_python_class_as_type_and_untranslatable_values_are_reported(tmp_path: Path) -> None:
    data, reports = convert(
        tmp_path,
        "from torch.optim import SGD\n"
        "optim_wrapper = dict(optimizer=dict(type=SGD, lr=0.1))\n"
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=2, val_interval=len([1]))\n"
        "model = dict(type='ClassifierModel',"
        " backbone=dict(type='MLP', act=lambda x: x, in_features=4, num_classes=2))\n",
    )
    assert data == {
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 2},
        "model": {"type": "ClassifierModel", "backbone": {"type": "MLP", "in_features": 4, "num_classes": 2}},
    }
    assert reports == {
        "optim_wrapper.optimizer.type": "SGD is imported from torch.optim.SGD (a Python object, not a config"
        " value): a type must be a name (string); optim_wrapper is left out",
        "train_cfg.val_interval": "a call of len() convert does not know, left out",
        "model.backbone.act": "a lambda is not a literal, left out",
    }


def test_mmengine_settings_that_move_or_change_their_spelling(tmp_path: Path) -> None:
    data, reports = convert(
        tmp_path,
        "env_cfg = dict(cudnn_benchmark=True, dist_cfg=dict(backend='gloo', timeout=60))\n"
        "launcher = 'pytorch'\n"
        "default_hooks = dict(checkpoint=None, logger=dict(interval=5))\n"
        "train_dataloader = dict(batch_size=2, sampler=dict(type='DefaultSampler', shuffle=False),"
        " dataset=dict(type='DigitsDataset'), collate_fn=dict(type='default_collate'))\n"
        "optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1), clip_grad=None)\n"
        "val_evaluator = [dict(type='Accuracy', topk=(1, 5)), dict(type='IoUMetric')]\n"
        "model = dict(type='ClassifierModel', init_cfg=None, backbone=dict(type='MLP', in_features=64,"
        " num_classes=10))\n",
    )
    assert data == {
        "cudnn_benchmark": True,
        "dist_cfg": {"backend": "gloo", "timeout": 60},
        "launcher": "torchrun",
        "default_hooks": {"checkpoint": False, "logger": {"interval": 5}},
        "train_dataloader": {"batch_size": 2, "shuffle": False, "dataset": {"type": "DigitsDataset"}},
        # clip_grad=None: no clipping, the default
        "optim_wrapper": {"optimizer": {"type": "SGD", "lr": 0.1}},
        "val_evaluator": [{"type": "Accuracy", "topk": [1, 5]}],
        "model": {
            "type": "ClassifierModel",
            "backbone": {"type": "MLP", "in_features": 64, "num_classes": 10},
        },
    }
    assert reports["train_dataloader.collate_fn"] == "not a customrun dataloader key, left out"
    assert reports["val_evaluator[1].type"].startswith("unknown metric 'IoUMetric'")
    assert reports["model.init_cfg"] == "None left out (TOML has no null): the component's default applies"
    assert len(reports) == 3


def test_launchers_customrun_does_not_have_are_reported(tmp_path: Path) -> None:
    data, reports = convert(tmp_path, "launcher = 'slurm'\n")
    assert data == {}
    assert reports == {
        "launcher": "the launcher 'slurm' has no customrun twin (customrun runs under torchrun), left out"
    }


def test_an_unreadable_custom_imports_module_is_named_in_the_report(tmp_path: Path) -> None:
    # a default hook is MMEngine's, never the user's own (issue 22, item 4 keeps a custom hook)
    _, reports = convert(
        tmp_path,
        "custom_imports = dict(imports=['mmseg.engine.hooks.new_hook'])\n"
        "default_hooks = dict(new=dict(type='NewHook'))\n",
    )
    message = reports["default_hooks.new.type"]
    assert message.startswith("unknown hook 'NewHook': no customrun twin")
    assert message.endswith(
        "(custom_imports 'mmseg.engine.hooks.new_hook': no source found to look for it);"
        " default_hooks.new is left out"
    )
