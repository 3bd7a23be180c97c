"""Hostile values and structures in configs (issue 20, items 8 and 9): each is refused in one line
naming the file and key path, exit status 2, before anything is trained."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from customrun_core.build import call_checked
from customrun_core.config import load_config
from customrun_core.config import loader as config_loader
from customrun_core.errors import ConfigError, CustomrunError
from customrun_core.testkit import tiny_config

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the reference for the overflow bound


def write(path: Path, data: dict[str, Any] | str) -> Path:
    path.write_text(data if isinstance(data, str) else tomli_w.dumps(data), encoding="utf-8")
    return path


def one_line(result: Any) -> str:
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def optimizer(**values: Any) -> dict[str, Any]:
    return {"optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9, **values}}


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"optim_wrapper": optimizer(lr=math.inf)}, "optim_wrapper.optimizer.lr"),
        ({"optim_wrapper": optimizer(lr=-math.inf)}, "optim_wrapper.optimizer.lr"),
        ({"optim_wrapper": optimizer(weight_decay=math.inf)}, "optim_wrapper.optimizer.weight_decay"),
        (
            {"param_scheduler": [{"type": "StepLR", "step_size": 1, "gamma": math.nan}]},
            "param_scheduler[0].gamma",
        ),
        ({"optim_wrapper": optimizer(lr=1e308)}, "optim_wrapper.optimizer.lr"),
        ({"custom_hooks": [{"type": "EMAHook", "momentum": -FLOAT32_MAX * 2}]}, "custom_hooks[0].momentum"),
    ],
)
def test_non_finite_and_float32_overflowing_numbers_are_refused_anywhere(tmp_path, changes, key) -> None:
    path = write(tmp_path / "c.toml", tiny_config(**changes))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {key}: expected a")


def test_the_float32_bound_is_float32s_largest(tmp_path) -> None:
    load_config(write(tmp_path / "ok.toml", tiny_config(optim_wrapper=optimizer(lr=FLOAT32_MAX))))
    over = np.nextafter(np.float64(FLOAT32_MAX), np.inf)  # the next float64 is refused
    with pytest.raises(ConfigError, match="float32's largest"):
        load_config(write(tmp_path / "over.toml", tiny_config(optim_wrapper=optimizer(lr=float(over)))))


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "+nan", "1e308"])
def test_set_refuses_non_finite_numbers(customrun_cli, customrun_config, value) -> None:
    line = one_line(
        customrun_cli("train", customrun_config(), "--set", f"optim_wrapper.optimizer.lr={value}")
    )
    assert line.startswith("error: --set: optim_wrapper.optimizer.lr: expected a ")


def test_python_configs_refuse_non_finite_numbers() -> None:
    with pytest.raises(ConfigError, match=r"^<config>: optim_wrapper.optimizer.lr: expected a finite number"):
        load_config(tiny_config(optim_wrapper=optimizer(lr=math.nan)))


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"randomness": {"seed": 2**64}}, "randomness.seed", "expected an integer from -2**63 to 2**63 - 1"),
        ({"randomness": {"seed": 2**63}}, "randomness.seed", "expected an integer from -2**63 to 2**63 - 1"),
        ({"train_dataloader": {"dataset": {}, "num_workers": 10**400}}, "train_dataloader.num_workers", "got one of"),
    ],
)  # fmt: skip
def test_integers_beyond_what_their_target_takes_are_refused(tmp_path, changes, key, message) -> None:
    path = write(tmp_path / "c.toml", tiny_config(**changes))
    with pytest.raises(ConfigError, match=rf"^{path}: {key}: ") as info:
        load_config(path)
    assert message in str(info.value)


def test_num_workers_is_bounded_before_any_worker_starts(customrun_cli, customrun_config) -> None:
    loader = tiny_config()["train_dataloader"] | {"num_workers": 10**6}
    line = one_line(customrun_cli("train", customrun_config(train_dataloader=loader)))
    assert line.endswith(": train_dataloader.num_workers: expected an integer <= 1024, got 1000000")


def test_tomls_integer_range_still_loads(tmp_path) -> None:
    cfg = load_config(write(tmp_path / "c.toml", tiny_config(randomness={"seed": 2**63 - 1})))
    assert cfg.randomness.seed == 2**63 - 1


def test_digits_beyond_pythons_limit_are_one_line(tmp_path) -> None:
    path = write(tmp_path / "c.toml", 'model = { type = "MLP" }\nseed = ' + "9" * 5000 + "\n")
    with pytest.raises(ConfigError, match=rf"^{path}: invalid TOML: "):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^--set: randomness.seed: invalid TOML value: "):
        config_loader.parse_override("randomness.seed=" + "9" * 5000)


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 10_000 + "]" * 10_000,
        "a = " + "{ b = " * 10_000 + "1" + " }" * 10_000,
        ".".join(["a"] * 10_000) + " = 1",
        "[" + ".".join(["a"] * 10_000) + "]\nx = 1",
    ],
    ids=["arrays", "inline-tables", "dotted-keys", "table-header"],
)
def test_deep_nesting_is_one_line(tmp_path, text) -> None:
    path = write(tmp_path / "deep.toml", 'model = { type = "MLP" }\n' + text + "\n")
    with pytest.raises(ConfigError, match=rf"^{path}: .*nested .*64"):
        load_config(path)


def test_deep_set_overrides_are_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^--set: .*nested .*64"):
        config_loader.parse_override("a=" + "[" * 10_000 + "]" * 10_000)
    with pytest.raises(ConfigError, match=r"^--set: .*at most 64 keys"):
        config_loader.parse_override(".".join(["a"] * 10_000) + "=1")


def chain(tmp_path: Path, length: int) -> Path:
    for i in range(length):
        text = f'extends = "c{i + 1}.toml"\nx{i} = {i}\n' if i < length - 1 else "model = { type = 'MLP' }\n"
        write(tmp_path / f"c{i}.toml", text)
    return tmp_path / "c0.toml"


def test_a_long_extends_chain_is_one_line(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"c32\.toml: extends: expected a chain of at most 32 files"):
        config_loader.load_file(chain(tmp_path, 1000))


def test_an_extends_chain_of_32_files_loads(tmp_path) -> None:
    data = config_loader.load_file(chain(tmp_path, 32))  # c0 extends c1 ... extends c31
    assert data["x30"] == 30 and data["model"] == {"type": "MLP"}


def test_a_diamond_of_extends_reads_each_file_once(tmp_path, monkeypatch) -> None:
    """A ladder of diamonds: level i extends both files of level i + 1; read naively, the last
    level is read 2**levels times."""
    levels = 12
    for i in range(levels):
        for side in "ab":
            bases = f'extends = ["{i + 1}a.toml", "{i + 1}b.toml"]\n' if i < levels - 1 else ""
            write(tmp_path / f"{i}{side}.toml", f"{bases}v{i}{side} = {i}\nlast = '{i}{side}'\n")
    reads: list[str] = []
    read = config_loader.read_toml

    def counting(path: str | os.PathLike[str]) -> dict[str, Any]:
        reads.append(Path(path).resolve().name)
        return read(path)

    monkeypatch.setattr(config_loader, "read_toml", counting)
    data = config_loader.load_file(tmp_path / "0a.toml")
    assert sorted(reads) == sorted(f"{i}{s}.toml" for i in range(levels) for s in "ab" if (i, s) != (0, "b"))
    # merged as before: every level's values, the file itself last
    assert all(data[f"v{i}{s}"] == i for i in range(1, levels) for s in "ab") and data["last"] == "0a"


def test_extends_of_a_device_or_fifo_is_refused_without_reading(tmp_path) -> None:
    write(tmp_path / "zero.toml", 'extends = "/dev/zero"\n')
    with pytest.raises(ConfigError, match=r"^/dev/zero: expected a regular TOML file"):
        load_config(tmp_path / "zero.toml")
    os.mkfifo(tmp_path / "fifo.toml")  # opening it would wait for a writer forever
    write(tmp_path / "c.toml", 'extends = "fifo.toml"\n')
    with pytest.raises(ConfigError, match=r"fifo\.toml: expected a regular TOML file"):
        load_config(tmp_path / "c.toml")


def test_a_config_file_over_16_mib_is_refused(tmp_path) -> None:
    path = tmp_path / "big.toml"
    with open(path, "wb") as f:
        f.truncate(16 * 2**20 + 1)  # sparse: costs no disk
    with pytest.raises(ConfigError, match=rf"^{path}: expected a config file of at most 16 MiB"):
        load_config(path)


def test_constructor_errors_other_than_value_error_are_one_line_with_the_key_path() -> None:
    def raising(error: Exception) -> Any:
        def target() -> None:
            raise error

        return target

    for error in (
        TypeError("bad\nsecond line"),
        RuntimeError("negative dimension"),
        IndexError("out of range"),
    ):
        with pytest.raises(ConfigError) as info:
            call_checked(raising(error), {}, "model.backbone")
        text = str(info.value)
        assert text.startswith(
            f"model.backbone: target failed with these arguments: {type(error).__name__}: "
        )
        assert "\n" not in text and "second line" not in text


def test_negative_hidden_features_are_one_line(customrun_cli, customrun_config) -> None:
    model = tiny_config()["model"]
    model["backbone"]["hidden_features"] = [-5]
    line = one_line(customrun_cli("train", customrun_config(model=model)))
    assert ": model.backbone: MLP failed with these arguments: RuntimeError: " in line
    assert "negative dimension -5" in line


def test_topk_beyond_num_classes_is_refused_before_training(
    customrun_cli, customrun_config, tmp_path
) -> None:
    line = one_line(
        customrun_cli("train", customrun_config(val_evaluator={"type": "Accuracy", "topk": [1, 1000]}))
    )
    assert line.endswith(
        "val_evaluator.topk: expected each k <= 10, the number of classes model.num_classes states, got 1000"
    )
    assert not list((tmp_path / "work").glob("*.pt"))  # nothing trained


def test_topk_beyond_the_model_outputs_is_one_line_at_the_first_batch() -> None:
    import torch

    from customrun_core.metrics.accuracy import Accuracy

    with pytest.raises(
        ConfigError, match=r"^topk: expected each k <= 10, the number of classes the model outputs"
    ):
        Accuracy(topk=[1, 20]).process(
            (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long)), torch.zeros(4, 10)
        )


def test_line_breaks_in_file_and_key_names_are_escaped(customrun_cli, tmp_path) -> None:
    config = write(tmp_path / "a\nb\rc.toml", tiny_config() | {"bad\nkey\rname": 1})
    line = one_line(customrun_cli("train", config))
    assert line.startswith("error: ") and "a\\nb\\rc.toml: bad\\nkey\\rname: unknown key" in line
    assert str(CustomrunError("x\u2028y\x85z")) == "x\\u2028y\\x85z"


def test_a_bad_plugins_require_entry_is_one_line(customrun_cli, customrun_config) -> None:
    line = one_line(customrun_cli("train", customrun_config(plugins={"require": ["customrun lars>="]})))
    assert line.startswith("error: [plugins] require: 'customrun lars>=' is not a requirement (Expected ")
