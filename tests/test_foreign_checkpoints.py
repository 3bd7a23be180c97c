"""Checkpoints that are not this run's (issue 20, item 6): another model's, a bare state_dict, a
malformed ``meta``, missing or foreign optimizer and scheduler states. Each is one line naming the
file and what does not fit, exit status 2; ``--resume`` without a path passes over it to the
previous checkpoint with one warning, as over a damaged file. The key and shape lists are checked
against what torch's own ``load_state_dict`` reports for the same state."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import torch

from customrun_core import checkpoint as ckpt
from customrun_core.testing import tiny_config

SCHEDULE = [{"type": "MultiStepLR", "milestones": [1], "gamma": 0.5}]


def settings(work: Path) -> dict[str, Any]:
    return tiny_config(
        work_dir=str(work),
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        param_scheduler=SCHEDULE,
        default_hooks={"logger": False},
        randomness={"seed": 3, "deterministic": True},
    )


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """epoch_1.pt and epoch_2.pt of a deterministic two-epoch run (trained once for the module)."""
    from customrun_core.runner import Runner

    work = tmp_path_factory.mktemp("trained") / "work"
    Runner.from_config(settings(work)).train()
    return work


@pytest.fixture
def trained(trained_once: Path, tmp_path: Path) -> Path:
    """A config whose work directory holds a copy of the trained checkpoints."""
    shutil.copytree(trained_once, tmp_path / "work")
    config = tmp_path / "config.toml"
    config.write_text(tomli_w.dumps(settings(tmp_path / "work")), encoding="utf-8")
    return config


def other_weights(c: dict[str, Any]) -> None:  # another model: a layer more, one less
    c["state_dict"]["backbone.5.weight"] = c["state_dict"].pop("backbone.3.weight")


def other_shape(c: dict[str, Any]) -> None:  # the same layers, 16 hidden features
    c["state_dict"]["backbone.1.weight"] = torch.zeros(16, 64)


def bare(c: dict[str, Any]) -> dict[str, Any]:
    return c["state_dict"]


def adam_state(c: dict[str, Any]) -> None:
    params = [torch.nn.Parameter(t.clone()) for t in c["state_dict"].values()]
    c["optimizer"] = torch.optim.Adam(params, lr=0.1).state_dict()


def cosine_state(c: dict[str, Any]) -> None:
    c["param_schedulers"] = [{"T_max": 2, "eta_min": 0.0, "by_epoch": True, "begin": 0, "end": 2}]


def set_meta(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda c: c["meta"].__setitem__(key, value)


def drop(*keys: str | int) -> Callable[[dict[str, Any]], None]:
    def change(c: dict[str, Any]) -> None:
        inner: Any = c
        for key in keys[:-1]:
            inner = inner[key]
        del inner[keys[-1]]

    return change


# name: (what turns epoch_2.pt into the foreign checkpoint, what its line must say)
CASES: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "another model": (other_weights, "missing keys backbone.3.weight; unexpected keys backbone.5.weight"),
    "other shapes": (other_shape, "size mismatch for backbone.1.weight [16, 64] in the checkpoint, [32, 64]"),
    "bare state_dict": (bare, "not a customrun checkpoint (no 'state_dict')"),
    "state_dict not a table": (
        lambda c: c.__setitem__("state_dict", [1, 2]),
        "state_dict: expected parameter",
    ),
    "meta not a table": (lambda c: c.__setitem__("meta", "epoch 2"), "meta: expected a table"),
    "no meta": (drop("meta"), "meta: expected a table"),
    "no iter": (drop("meta", "iter"), "meta.iter: expected an integer >= 0, got NoneType"),
    "iter = -5": (set_meta("iter", -5), "meta.iter: expected an integer >= 0, got integer -5"),
    "iter a string": (set_meta("iter", "40"), "meta.iter: expected an integer >= 0, got string"),
    "epoch a float": (set_meta("epoch", 2.5), "meta.epoch: expected an integer >= 0, got float 2.5"),
    "rng malformed": (set_meta("rng", {"torch": 1}), "meta.rng: expected the random states"),
    "no scheduler states": (
        drop("param_schedulers"),
        "param_schedulers: expected the states of this run's 1",
    ),
    "another scheduler": (cosine_state, "param_schedulers[0]: not the state of a MultiStepLR"),
    "no optimizer state": (drop("optimizer"), "optimizer: missing"),
    "another optimizer": (adam_state, "optimizer.param_groups[0]: saved by another optimizer (unexpected"),
    "other parameter count": (
        drop("optimizer", "param_groups", 0, "params", -1),
        "optimizer.param_groups[0]: expected 4 parameters, got 3",
    ),
}


def make_foreign(path: Path, case: str) -> None:
    checkpoint = ckpt.load(path)
    changed = CASES[case][0](checkpoint)
    torch.save(checkpoint if changed is None else changed, path)


@pytest.mark.parametrize("case", list(CASES))
def test_a_checkpoint_of_another_run_is_one_line_and_resume_passes_over_it(
    trained: Path, customrun_cli: Callable[..., Any], tmp_path: Path, case: str
) -> None:
    work = tmp_path / "work"
    intact = ckpt.load(work / "epoch_2.pt")["state_dict"]
    foreign = work / "epoch_2.pt"
    make_foreign(foreign, case)

    result = customrun_cli("train", trained, "--resume", foreign)
    assert result.exit_code == 2, result.stderr
    [line] = result.stderr_lines
    assert str(foreign) in line and CASES[case][1] in line, line

    result = customrun_cli("train", trained, "--resume")  # the newest first: epoch_2.pt, then epoch_1.pt
    assert result.exit_code == 0, result.stderr
    [warning] = [line for line in result.stdout.splitlines() if "cannot resume from it" in line]
    assert str(foreign) in warning and CASES[case][1] in warning, warning
    assert f"loaded checkpoint {work / 'epoch_1.pt'} (resumed)" in result.stdout
    again = ckpt.load(work / "epoch_2.pt")["state_dict"]  # deterministic: the same epoch 2 again
    assert all(torch.equal(intact[k], again[k]) for k in intact)


def test_the_mismatch_is_what_torch_reports(trained_once: Path) -> None:
    """The independent reference: torch's strict load_state_dict names the same keys and sizes."""
    from customrun_core.run_checkpoint import _weights_mismatch

    expected = ckpt.load(trained_once / "epoch_2.pt")["state_dict"]
    for change in (other_weights, other_shape):
        checkpoint = {"state_dict": dict(expected)}
        change(checkpoint)
        model = torch.nn.Module()
        for name, tensor in expected.items():  # a module with the same parameter names and shapes
            owner = model
            *path, leaf = name.split(".")
            for part in path:
                if not hasattr(owner, part):
                    owner.add_module(part, torch.nn.Module())
                owner = getattr(owner, part)
            owner.register_parameter(leaf, torch.nn.Parameter(tensor.clone()))
        with pytest.raises(RuntimeError) as info:
            model.load_state_dict(checkpoint["state_dict"])
        ours = _weights_mismatch(expected, checkpoint["state_dict"])
        for name in ("backbone.3.weight", "backbone.5.weight", "backbone.1.weight"):
            assert (name in ours) == (name in str(info.value)), (ours, str(info.value))


def test_load_from_another_models_weights_is_one_line(
    trained: Path, customrun_cli: Callable[..., Any], tmp_path: Path
) -> None:
    foreign = tmp_path / "other.pt"
    shutil.copy(tmp_path / "work" / "epoch_2.pt", foreign)
    make_foreign(foreign, "another model")
    result = customrun_cli("train", trained, "--set", f'load_from="{foreign}"')
    assert result.exit_code == 2, result.stderr
    [line] = result.stderr_lines
    assert "load_from" in line and str(foreign) in line and CASES["another model"][1] in line, line
    # weights only: a checkpoint without optimizer or scheduler states is fine there
    shutil.copy(tmp_path / "work" / "epoch_2.pt", foreign)
    make_foreign(foreign, "no optimizer state")
    make_foreign(foreign, "no scheduler states")
    assert customrun_cli("train", trained, "--set", f'load_from="{foreign}"').exit_code == 0
