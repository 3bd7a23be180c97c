"""The broken-config corpus: every config under tests/data/broken, run through the real command line in a
subprocess, fails with exit status 2 and one line on stderr that names the file and the key path, and no
traceback reaches the user."""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from customrun_core import registry
from customrun_core.testing import CliResult

CORPUS = Path(__file__).resolve().parent.parent / "data" / "broken"
BASE = CORPUS / "_base.toml"

# Modules the cases import through custom_imports; written into the working directory of every case.
MODULES = {
    "misspelt_hook.py": """\
from customrun_core.hooks.base import Hook
from customrun_core.registry import register


@register("hooks")
class MisspeltHook(Hook):
    def before_train_itr(self, runner, batch_idx, data_batch=None):
        pass
""",
    "raising_module.py": 'raise RuntimeError("this module refuses to be imported")\n',
}

SHARED_HOOK = """\
from customrun_core.hooks.base import Hook


class SharedHook(Hook):
    pass
"""


class Case(NamedTuple):
    """One broken config and what its error line must say."""

    config: str  # file name in CORPUS
    key: str  # the key path the line names
    expected: tuple[str, ...] = ()  # further substrings of the line
    args: tuple[str, ...] = ()  # after the config file
    command: str = "train"
    line: str | None = None  # the whole line after "error: ", "{file}" standing for the config path
    where: str | None = None  # what the line names instead of the config file ("--set")


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")

CASES = [
    pytest.param(Case("bad_toml.toml", "", ("invalid TOML", "line 4")), id="bad-toml"),
    pytest.param(
        Case(
            "unknown_top_level_key.toml",
            "optim_wraper",
            line="{file}: optim_wraper: unknown key (did you mean 'optim_wrapper'?)",
        ),
        id="unknown-top-level-key",
    ),
    pytest.param(
        Case(
            "unknown_model_type.toml",
            "model.type",
            line="{file}: model.type: unknown model 'ClasifierModel' (no entry point in group customrun.models, "
            "no registered name, no import path) (did you mean 'ClassifierModel'?)",
        ),
        id="unknown-type",
    ),
    pytest.param(
        Case("unknown_backbone_type.toml", "model.backbone.type", ("'MPL'", "did you mean 'MLP'?")),
        id="unknown-nested-type",
    ),
    pytest.param(
        Case(
            "first_party_plugin.toml",
            "optim_wrapper.optimizer.type",
            ("'LARS'", "pip install customrun-lars"),
        ),
        id="first-party-plugin-not-installed",
        marks=pytest.mark.skipif(
            "LARS" in registry.scan_entry_points()["optimizers"],
            reason="customrun-lars is installed here (the core-only environment runs this case)",
        ),
    ),
    pytest.param(
        Case(
            "misspelt_optimizer_argument.toml",
            "optim_wrapper.optimizer.momentun",
            ("SGD has no argument 'momentun'", "did you mean 'momentum'?"),
        ),
        id="misspelt-optimizer-argument",
    ),
    pytest.param(
        Case(
            "misspelt_loop_argument.toml",
            "train_cfg.max_epoch",
            line="{file}: train_cfg.max_epoch: EpochBasedTrainLoop has no argument 'max_epoch' "
            "(it takes max_epochs, val_begin, val_interval) (did you mean 'max_epochs'?)",
        ),
        id="misspelt-loop-argument",
    ),
    pytest.param(
        Case(
            "misspelt_dataset_argument.toml",
            "train_dataloader.dataset.splt",
            ("DigitsDataset has no argument 'splt'", "did you mean 'split'?"),
        ),
        id="misspelt-dataset-argument",
    ),
    pytest.param(
        Case("wrong_type_lr.toml", "optim_wrapper.optimizer.lr", ("expected a number", "got string '0.1'")),
        id="wrong-type-lr",
    ),
    pytest.param(
        Case(
            "wrong_type_max_epochs.toml",
            "train_cfg.max_epochs",
            line="{file}: train_cfg.max_epochs: expected an integer, got string '1'",
        ),
        id="wrong-type-max-epochs",
    ),
    pytest.param(
        Case(
            "wrong_type_batch_size.toml",
            "train_dataloader.batch_size",
            ("expected an integer, got array [64]",),
        ),
        id="wrong-type-batch-size",
    ),
    pytest.param(
        Case("wrong_type_seed.toml", "randomness.seed", ("expected an integer, got string 'zero'",)),
        id="wrong-type-seed",
    ),
    pytest.param(
        Case("missing_model.toml", "model", line="{file}: model: required key is missing"), id="missing-model"
    ),
    pytest.param(
        Case("missing_dataset.toml", "train_dataloader.dataset", ("required key is missing",)),
        id="missing-dataset",
    ),
    pytest.param(
        Case(
            "missing_constructor_argument.toml",
            "model.backbone.num_classes",
            line="{file}: model.backbone.num_classes: required argument is missing",
        ),
        id="missing-constructor-argument",
    ),
    pytest.param(
        Case(
            "bad_priority_name.toml", "custom_hooks[0].priority", ("'VERY_HIHG'", "did you mean 'VERY_HIGH'?")
        ),
        id="bad-priority-name",
    ),
    pytest.param(
        Case(
            "priority_out_of_range.toml", "default_hooks.checkpoint.priority", ("between 0 and 100, got 150",)
        ),
        id="priority-out-of-range",
    ),
    pytest.param(
        Case(
            "misspelt_hook_method.toml",
            "custom_hooks[0]",
            ("MisspeltHook defines before_train_itr()", "did you mean 'before_train_iter'?"),
        ),
        id="misspelt-hook-method",
    ),
    pytest.param(
        Case(
            "custom_import_missing.toml",
            "custom_imports.imports[0]",
            ("cannot import 'no_such_module_for_customrun'", "ModuleNotFoundError"),
        ),
        id="custom-import-missing",
    ),
    pytest.param(
        Case(
            "custom_import_raises.toml",
            "custom_imports.imports[0]",
            ("cannot import 'raising_module'", "RuntimeError: this module refuses to be imported"),
        ),
        id="custom-import-raises",
    ),
    pytest.param(Case("extends_cycle.toml", "extends", ("extends forms a cycle",)), id="extends-cycle"),
    pytest.param(
        Case("extends_missing.toml", "extends", ("no such config file '_no_such_base.toml'",)),
        id="extends-missing-file",
    ),
    pytest.param(
        Case("misspelt_default_hook.toml", "default_hooks.checkpiont", ("did you mean 'checkpoint'?",)),
        id="misspelt-default-hook",
    ),
    pytest.param(Case("bad_device.toml", "device", ("got 'gpu'",)), id="bad-device"),
    pytest.param(
        Case("no_cuda.toml", "device", ("'cuda' asked for", "no CUDA device")), id="no-cuda", marks=NO_CUDA
    ),
    pytest.param(
        Case(
            "_base.toml",
            "train_cfg..max_epochs",
            ("expected KEY.PATH=VALUE",),
            args=("--set", "train_cfg..max_epochs=2"),
            where="--set",
        ),
        id="set-bad-key-path",
    ),
    pytest.param(
        Case(
            "_base.toml",
            "train_cfg.max_epochs",
            ("cannot set a key inside integer 1",),
            args=("--set", "train_cfg.max_epochs.value=2"),
            where="--set",
        ),
        id="set-key-inside-a-value",
    ),
    pytest.param(
        Case(
            "_base.toml",
            "load_from",
            ("no such checkpoint file: missing.pt",),
            args=("--checkpoint", "missing.pt"),
            command="test",
        ),
        id="test-missing-checkpoint",
    ),
    pytest.param(
        Case(
            "_base.toml",
            "load_from",
            ("cannot read checkpoint random.pt",),
            args=("--checkpoint", "random.pt"),
            command="test",
        ),
        id="test-checkpoint-of-random-bytes",
    ),
]


def error_lines(result: CliResult) -> list[str]:
    """stderr's lines, after checking exit status 2, no traceback and the ``error: `` prefix."""
    output = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.exit_code == 2, output
    assert "Traceback" not in result.stdout + result.stderr, output
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), output
    return lines


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The cases' working directory: the custom_imports modules and a checkpoint of random bytes."""
    for name, source in MODULES.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    (tmp_path / "random.pt").write_bytes(random.Random(0).randbytes(256))
    return tmp_path


@pytest.fixture
def run_cli(workdir: Path, customrun_cli: Callable[..., CliResult]) -> Callable[..., CliResult]:
    """``customrun ARGS`` in a subprocess in the cases' working directory, as a user runs it."""
    return functools.partial(customrun_cli, in_subprocess=True)


@pytest.mark.parametrize("case", CASES)
def test_broken_config_is_one_line_with_file_and_key_path(
    case: Case, run_cli: Callable[..., CliResult]
) -> None:
    """Exit status 2, one ``error:`` line naming the file and the key path, the expected wording, no traceback."""
    config = str(CORPUS / case.config)
    result = run_cli(case.command, config, *case.args)
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    line = lines[0]
    where = case.where or config
    if case.key and case.where is None:
        assert line.startswith(f"error: {where}: {case.key}: "), line
    else:
        assert line.startswith(f"error: {where}: ") and case.key in line, line
    for text in case.expected:
        assert text in line, line
    if case.line is not None:
        assert line == "error: " + case.line.format(file=config)


def test_broken_plugin_is_one_block_naming_distribution_version_and_entry_point(
    run_cli: Callable[..., CliResult], customrun_distribution
) -> None:
    """A customrun.plugins entry point whose module raises ImportError stops the run with one block, status 2."""
    customrun_distribution(
        "customrun-broken",
        version="0.3.1",
        entry_points={"customrun.plugins": {"broken": "customrun_broken_plugin"}},
        modules={"customrun_broken_plugin.py": 'raise ImportError("customrun-broken needs libbroken")\n'},
    )
    lines = error_lines(run_cli("train", BASE))
    assert lines[0] == "error: plugins failed to load:"
    assert len(lines) == 3, lines
    failure = lines[1]
    for text in ("customrun-broken", "0.3.1", "entry point broken = customrun_broken_plugin", "ImportError"):
        assert text in failure, failure
    assert "customrun-broken needs libbroken" in failure
    assert "the run has not started" in lines[2]


def test_hook_from_two_distributions_is_ambiguous(
    run_cli: Callable[..., CliResult], customrun_distribution
) -> None:
    """A hook name two distributions provide is one line naming both and how to pick one; the pick resolves."""
    for suffix, version in (("a", "1.0"), ("b", "2.0")):
        customrun_distribution(
            f"customrun-hooks-{suffix}",
            version=version,
            entry_points={"customrun.hooks": {"SharedHook": f"hooks_{suffix}:SharedHook"}},
            modules={f"hooks_{suffix}.py": SHARED_HOOK},
        )
    config = str(CORPUS / "ambiguous_hook.toml")
    lines = error_lines(run_cli("train", config))
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith(f"error: {config}: custom_hooks[0].type: hook 'SharedHook' is provided by "), line
    for text in (
        "customrun-hooks-a 1.0 (hooks_a:SharedHook)",
        "customrun-hooks-b 2.0 (hooks_b:SharedHook)",
        'type = "customrun-hooks-a:SharedHook"',
        'type = "customrun-hooks-b:SharedHook"',
    ):
        assert text in line, line

    from customrun_core import registry

    assert registry.resolve("hooks", "customrun-hooks-b:SharedHook").__module__ == "hooks_b"


def test_allow_failed_imports_warns_and_the_run_proceeds(monkeypatch: pytest.MonkeyPatch) -> None:
    """With allow_failed_imports = true a missing custom import is a warning and the runner is built."""
    from customrun_core.runner import Runner

    monkeypatch.setattr(sys, "path", list(sys.path))  # custom imports put the working directory on it
    with pytest.warns(
        UserWarning, match=r"cannot import 'no_such_module_for_customrun'.*allow_failed_imports"
    ):
        runner = Runner.from_config(CORPUS / "allow_failed_imports.toml")
    assert isinstance(runner.model, torch.nn.Module)
    assert [type(hook).__name__ for hook in runner.hooks.plugins][-1] == "CheckpointHook"


def test_traceback_option_shows_the_traceback(run_cli: Callable[..., CliResult]) -> None:
    """``--traceback`` shows the full traceback instead of the one line, with a non-zero exit status."""
    result = run_cli("train", CORPUS / "unknown_model_type.toml", "--traceback")
    assert result.exit_code != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "unknown model 'ClasifierModel'" in result.stderr.strip().splitlines()[-1]


def test_every_corpus_file_is_a_case() -> None:
    """Each config in tests/data/broken (bar the ``_`` helpers) is exercised by a test here."""
    used = {param.values[0].config for param in CASES}
    used |= {"ambiguous_hook.toml", "allow_failed_imports.toml"}
    files = {path.name for path in CORPUS.glob("*.toml") if not path.name.startswith("_")}
    assert files == used - {"_base.toml"}
