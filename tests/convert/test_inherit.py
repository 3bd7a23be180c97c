"""``_base_`` merging as MMEngine documents it, against hand-computed expected values."""

from __future__ import annotations

from pathlib import Path

import pytest

from customrun_core.convert.inherit import read_config
from customrun_core.errors import ConfigError

# MMEngine's documented example: optimizer_cfg.py, inherited and changed.
OPTIMIZER_CFG = "optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001)\n"


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory / next(iter(files))


def test_a_child_dict_merges_into_the_base_dict(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"cfg.py": "_base_ = './optimizer_cfg.py'\noptimizer = dict(lr=0.01)\n",
                           "optimizer_cfg.py": OPTIMIZER_CFG})  # fmt: skip
    assert read_config(cfg).values == {
        "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001}
    }


def test_delete_replaces_the_base_dict(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"cfg.py": "_base_ = ['optimizer_cfg.py']\noptimizer = dict(_delete_=True, type='AdamW', lr=0.01)\n",
                           "optimizer_cfg.py": OPTIMIZER_CFG})  # fmt: skip
    assert read_config(cfg).values == {"optimizer": {"type": "AdamW", "lr": 0.01}}


def test_delete_false_still_merges_and_nested_delete_replaces_only_its_dict(tmp_path: Path) -> None:
    base = "model = dict(type='M', backbone=dict(type='ResNet', depth=50, norm=dict(type='BN')), head=dict(n=1))\n"
    child = "_base_ = 'base.py'\nmodel = dict(_delete_=False, backbone=dict(_delete_=True, type='ViT', depth=2))\n"
    cfg = write(tmp_path, {"cfg.py": child, "base.py": base})
    assert read_config(cfg).values == {
        "model": {"type": "M", "backbone": {"type": "ViT", "depth": 2}, "head": {"n": 1}}
    }


def test_lists_replace_and_bases_merge_in_order_then_the_file(tmp_path: Path) -> None:
    cfg = write(
        tmp_path,
        {
            "cfg.py": "_base_ = ['a.py', 'sub/b.py']\nsteps = [3]\ntrain_cfg = dict(max_epochs=_base_.epochs * 2)\n",
            "a.py": "steps = [1, 2]\ntrain_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)\n",
            "sub/b.py": "_base_ = '../c.py'\nepochs = 6\n",
            "c.py": "work_dir = 'runs'\n",
        },
    )
    config = read_config(cfg)
    assert config.values == {
        "steps": [3],
        "train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 12},
        "work_dir": "runs",
        "epochs": 6,
    }
    assert "epochs" in config.helpers  # read through _base_: a helper variable, not a key
    assert config.origins["train_cfg"] == (str(cfg), 3)
    assert config.origins["work_dir"][0].endswith("c.py")


def test_delete_keys_left_without_a_base_are_removed(tmp_path: Path) -> None:
    cfg = write(
        tmp_path, {"cfg.py": "model = dict(_delete_=True, type='M', sub=[dict(_delete_=True, a=1)])\n"}
    )
    assert read_config(cfg).values == {"model": {"type": "M", "sub": [{"a": 1}]}}


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"cfg.py": "_base_ = 'missing.py'\n"}, "cfg.py:1: _base_: no such _base_ file 'missing.py'"),
        ({"cfg.py": "x = 1\n_base_ = 'a.py'\n", "a.py": "_base_ = 'cfg.py'\n"}, "a.py:1: _base_: _base_ forms a cycle: cfg.py -> a.py -> cfg.py"),
        ({"cfg.py": "_base_ = 'cfg.py'\n"}, "cfg.py:1: _base_: _base_ forms a cycle: cfg.py -> cfg.py"),
        ({"cfg.py": "_base_ = ['a.py', 'b.py']\n", "a.py": "lr = 1\n", "b.py": "lr = 2\n"}, "cfg.py:1: _base_: lr is set by two _base_ files, a.py and b.py"),
        ({"cfg.py": "_base_ = 'a.py'\nlr = dict(x=1)\n", "a.py": "lr = 1\n"}, "cfg.py:2: lr: a dict here cannot merge into the base's int"),
        ({"cfg.py": "_base_ = 3\n"}, "cfg.py:1: _base_: expected a file name or a list of file names, got 3"),
        ({"cfg.py": "_base_ = 'mmdet::_base_/models/r50.py'\n"}, "names a config inside an installed package"),
        ({"cfg.py": "_base_ = 'a.yaml'\n", "a.yaml": ""}, "only Python (.py) bases can be converted"),
        ({"cfg.py": "x = dict(\n  a=1,\n  b=\n"}, "cfg.py:"),
    ],
)  # fmt: skip
def test_bad_bases_and_bad_syntax_are_one_located_error(tmp_path: Path, files: dict, message: str) -> None:
    cfg = write(tmp_path, files)
    with pytest.raises(ConfigError) as caught:
        read_config(cfg)
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, {"cfg.py": "a = 1\nb = = 2\n"})
    with pytest.raises(ConfigError, match=r"cfg\.py:2: invalid Python: invalid syntax"):
        read_config(cfg)
