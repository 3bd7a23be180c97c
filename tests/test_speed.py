"""The optional speed features (customrun_core/speed.py, docs/config.md "Speed"): ``compile``,
``channels_last``, ``cudnn_benchmark`` and the DataLoader's ``prefetch_factor``,
``persistent_workers`` and ``pin_memory``.

Each feature must leave training's results alone: every test compares a run with the feature
against the same run without it (the reference), iteration by iteration or by final weights.
Compiling uses the ``aot_eager`` backend, which needs no C++ compiler but still traces the forward
with TorchDynamo and runs it through AOTAutograd's forward and backward graphs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

from customrun_core import Hook, unwrap_model
from customrun_core.datasets.loader import build_dataloader
from customrun_core.errors import ConfigError
from customrun_core.speed import compile_arguments
from customrun_core.testing import CliResult, RunResult, tiny_config

BASE = Path(__file__).resolve().parent / "data" / "broken" / "_base.toml"
AOT_EAGER = {"backend": "aot_eager"}
Run = Callable[..., RunResult]


class LossRecorder(Hook):
    """Keeps every training iteration's logged loss."""

    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self.losses.append(outputs["loss"].detach().clone())


def weights(result: RunResult) -> dict[str, torch.Tensor]:
    """The run's final model state, unsharded (FSDP keeps DTensors)."""
    state = unwrap_model(result.runner.model).state_dict()
    return {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in state.items()}


def assert_same_training(got: RunResult, expected: RunResult, tolerance: dict[str, float]) -> None:
    got_weights, expected_weights = weights(got), weights(expected)
    assert got_weights.keys() == expected_weights.keys()
    for name, value in expected_weights.items():
        torch.testing.assert_close(got_weights[name], value, **tolerance, msg=lambda m, n=name: f"{n}: {m}")


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    """Compiled code and counters of other tests forgotten, so each test compiles what it runs
    (and no test reaches TorchDynamo's recompile limit for ClassifierModel.forward)."""
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


# -- compile ----------------------------------------------------------------------------------
CLOSE = {"rtol": 1e-5, "atol": 1e-6}  # aot_eager runs the same kernels; only op order may differ


def test_a_compiled_run_trains_like_an_uncompiled_one(customrun_run: Run, fresh_dynamo: None) -> None:
    eager_losses, compiled_losses = LossRecorder(), LossRecorder()
    eager = customrun_run(hooks=[eager_losses], work_dir="eager")
    compiled = customrun_run(hooks=[compiled_losses], work_dir="compiled", compile=AOT_EAGER)
    assert counters["stats"]["unique_graphs"] >= 2  # TorchDynamo did capture: training and validation
    model = unwrap_model(compiled.runner.model)
    assert type(model) is type(unwrap_model(eager.runner.model))  # compiled in place, not wrapped
    assert len(compiled_losses.losses) == len(eager_losses.losses) == eager.runner.iter > 3
    torch.testing.assert_close(torch.stack(compiled_losses.losses), torch.stack(eager_losses.losses), **CLOSE)
    assert_same_training(compiled, eager, CLOSE)
    assert compiled.metrics == pytest.approx(eager.metrics)
    saved = torch.load(compiled.work_dir / "epoch_1.pt", weights_only=True)["state_dict"]
    assert list(saved) == list(unwrap_model(eager.runner.model).state_dict())  # no "_orig_mod." prefix


def test_checkpoints_of_compiled_and_uncompiled_runs_load_into_each_other(
    customrun_run: Run, fresh_dynamo: None
) -> None:
    two_epochs = {"train_cfg": {"type": "EpochBasedTrainLoop", "max_epochs": 2}}
    eager = customrun_run(tiny_config(**two_epochs), work_dir="eager")
    compiled = customrun_run(tiny_config(**two_epochs), work_dir="compiled", compile=AOT_EAGER)
    compiled_from_eager = customrun_run(
        tiny_config(**two_epochs),
        work_dir="compiled_from_eager",
        compile=AOT_EAGER,
        resume=str(eager.work_dir / "epoch_1.pt"),
    )
    eager_from_compiled = customrun_run(
        tiny_config(**two_epochs),
        work_dir="eager_from_compiled",
        resume=str(compiled.work_dir / "epoch_1.pt"),
    )
    assert counters["stats"]["unique_graphs"] >= 2  # both compiled runs did compile
    assert_same_training(compiled_from_eager, eager, CLOSE)
    assert_same_training(eager_from_compiled, compiled, CLOSE)
    loaded = customrun_run(mode="test", work_dir="test", load_from=str(compiled.work_dir / "epoch_2.pt"))
    assert loaded.metrics == pytest.approx(compiled.runner.test())  # weights only, into an uncompiled model


@pytest.mark.parametrize("wrapper", ["DDP", "FSDP"])
def test_the_model_is_compiled_inside_its_ddp_or_fsdp_wrapper(
    customrun_run: Run, fresh_dynamo: None, torchrun_env: None, wrapper: str
) -> None:
    compiled = customrun_run(launcher="torchrun", model_wrapper_cfg={"type": wrapper}, compile=AOT_EAGER)
    assert counters["stats"]["unique_graphs"] >= 1
    model = unwrap_model(compiled.runner.model)
    assert "forward" in vars(model)  # the wrapped model's own forward is the compiled one
    plain = customrun_run(work_dir="plain")
    assert_same_training(compiled, plain, CLOSE)
    assert compiled.metrics == pytest.approx(plain.metrics)


def test_compile_true_means_torch_defaults_and_false_means_no_compiling() -> None:
    assert compile_arguments(True) == {}
    assert compile_arguments(False) is None
    assert compile_arguments({"backend": "eager", "dynamic": False}) == {"backend": "eager", "dynamic": False}


COMPILE_ERRORS = [
    pytest.param(
        "compile={modee = 'default'}",
        r"compile\.modee: torch\.compile has no argument 'modee' \(it takes fullgraph, .*\) \(did you mean 'mode'\?\)",
        id="misspelt-argument",
    ),
    pytest.param(
        "compile={backend = 'aot_eager', fulgraph = true}",
        r"compile\.fulgraph: torch\.compile has no argument 'fulgraph' .*\(did you mean 'fullgraph'\?\)",
        id="misspelt-second-argument",
    ),
    pytest.param(
        "compile={model = 'x'}",
        r"compile\.model: torch\.compile has no argument 'model' \(it takes fullgraph, .*\)",
        id="the-model-is-not-an-argument",
    ),
    pytest.param(
        "compile={fullgraph = 'yes'}",
        r"compile\.fullgraph: expected a boolean, got string 'yes'",
        id="wrong-type",
    ),
    pytest.param(
        "compile='yes'", r"compile: expected a boolean or a table, got string 'yes'", id="not-a-table"
    ),
    pytest.param(
        "compile={backend = 'aot_eagr'}",
        r"compile\.backend: unknown torch\.compile backend 'aot_eagr' .*\(did you mean 'aot_eager'.*\)",
        id="unknown-backend",
    ),
    pytest.param(
        "compile={mode = 'default', options = {}}",
        r"compile: torch\.compile refused its arguments: Either mode or options can be specified.*",
        id="mode-and-options",
    ),
]


@pytest.mark.parametrize(("override", "message"), COMPILE_ERRORS)
def test_bad_compile_settings_are_one_line_errors(
    customrun_cli: Callable[..., CliResult], override: str, message: str
) -> None:
    result = customrun_cli("train", BASE, "--set", override)
    assert result.exit_code == 2, result.stderr
    assert len(result.stderr_lines) == 1, result.stderr
    # the value came from --set, and the line says so (issue 21, item 6)
    assert re.fullmatch(f"error: --set: {message}", result.stderr_lines[0]), result.stderr_lines[0]
    assert not (Path("work") / "config.toml").exists()  # refused before the run started


# -- channels_last ----------------------------------------------------------------------------
CONV_MODULE = '''
"""A small conv net and random 3x8x8 images for the channels_last tests."""

import torch
from torch import nn
from torch.utils.data import Dataset

from customrun_core import register


@register("models")
class TinyConvNet(nn.Module):
    def __init__(self, num_classes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.head(x.mean(dim=(2, 3)))


@register("datasets")
class RandomImages(Dataset):
    def __init__(self, size=96, num_classes=4, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.randn(size, 3, 8, 8, generator=generator)
        self.labels = torch.randint(0, num_classes, (size,), generator=generator)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]
'''


def conv_config(**changes: Any) -> dict[str, Any]:
    """Two epochs of 6 batches of random images through TinyConvNet, validated each epoch."""
    loader = {"batch_size": 16, "dataset": {"type": "RandomImages"}}
    return tiny_config(
        custom_imports={"imports": ["speed_conv"]},
        model={"type": "ClassifierModel", "backbone": {"type": "TinyConvNet"}},
        train_dataloader={**loader, "shuffle": True},
        val_dataloader={**loader, "dataset": {"type": "RandomImages", "seed": 1}},
        test_dataloader={**loader, "dataset": {"type": "RandomImages", "seed": 1}},
        train_cfg={"type": "EpochBasedTrainLoop", "max_epochs": 2},
        optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}},
        **changes,
    )


class LayoutProbe(Hook):
    """Records, at every training and validation iteration, whether the model's 4-D weights and
    the batch's images are channels_last and whether they are plain contiguous (NCHW)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bool, bool, bool, bool]] = []

    def _record(self, where: str, runner: Any, data_batch: Any) -> None:
        model = unwrap_model(runner.model)
        kernels = [p for p in model.parameters() if p.dim() == 4]
        images = data_batch[0]
        self.seen.append(
            (
                where,
                all(p.is_contiguous(memory_format=torch.channels_last) for p in kernels),
                all(p.is_contiguous() for p in kernels),
                images.is_contiguous(memory_format=torch.channels_last),
                images.is_contiguous(),
            )
        )

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        self._record("train", runner, data_batch)

    def after_train_iter(
        self, runner: Any, batch_idx: int, data_batch: Any = None, outputs: Any = None
    ) -> None:
        self._record("after_step", runner, data_batch)  # the optimizer kept the layout

    def before_val_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        self._record("val", runner, data_batch)


@pytest.fixture
def conv_module(tmp_path: Path) -> None:
    (tmp_path / "speed_conv.py").write_text(CONV_MODULE, encoding="utf-8")


@pytest.mark.parametrize("num_workers", [0, 1])
def test_channels_last_trains_like_contiguous_and_keeps_the_layout(
    customrun_run: Run, conv_module: None, num_workers: int
) -> None:
    def loaders(cfg: dict[str, Any]) -> dict[str, Any]:
        for key in ("train_dataloader", "val_dataloader"):
            cfg[key] = {**cfg[key], "num_workers": num_workers}
        return cfg

    plain_probe, probe = LayoutProbe(), LayoutProbe()
    plain = customrun_run(loaders(conv_config()), hooks=[plain_probe], work_dir="plain")
    fast = customrun_run(loaders(conv_config(channels_last=True)), hooks=[probe], work_dir="channels_last")
    iterations = 2 * 6
    assert [s[0] for s in probe.seen].count("train") == iterations
    assert {s[0] for s in probe.seen} == {"train", "after_step", "val"}
    # every kernel and every image batch is channels_last and not NCHW-contiguous, at every step
    assert {s[1:] for s in probe.seen} == {(True, False, True, False)}
    assert {s[1:] for s in plain_probe.seen} == {(False, True, False, True)}  # and the reference is NCHW
    assert_same_training(fast, plain, {"rtol": 1e-4, "atol": 1e-5})
    assert fast.metrics == pytest.approx(plain.metrics)
    saved = torch.load(fast.work_dir / "epoch_2.pt", weights_only=True)["state_dict"]
    assert saved.keys() == weights(plain).keys()


# -- cudnn_benchmark --------------------------------------------------------------------------
def test_cudnn_benchmark_sets_torchs_flag(customrun_run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # put back after the test
    customrun_run(
        cudnn_benchmark=False, train_cfg={"type": "IterBasedTrainLoop", "max_iters": 1}, work_dir="off"
    )
    assert torch.backends.cudnn.benchmark is False
    customrun_run(
        cudnn_benchmark=True, train_cfg={"type": "IterBasedTrainLoop", "max_iters": 1}, work_dir="on"
    )
    assert torch.backends.cudnn.benchmark is True


def test_cudnn_benchmark_with_deterministic_is_a_one_line_error(
    customrun_cli: Callable[..., CliResult],
) -> None:
    result = customrun_cli(
        "train", BASE, "--set", "cudnn_benchmark=true", "--set", "randomness.deterministic=true"
    )
    assert result.exit_code == 2, result.stderr
    assert result.stderr_lines == [
        f"error: {BASE}: cudnn_benchmark: cudnn_benchmark = true contradicts randomness.deterministic = true"
        " (benchmarking picks convolution algorithms by timing them, so results vary from run to run):"
        " set one to false"
    ]


# -- DataLoader settings ----------------------------------------------------------------------
def test_worker_settings_reach_the_dataloader_and_training_matches_no_workers(customrun_run: Run) -> None:
    workers = {"num_workers": 1, "prefetch_factor": 3, "persistent_workers": True}
    cfg = tiny_config()
    cfg["train_dataloader"] = {**cfg["train_dataloader"], **workers}
    with_workers = customrun_run(cfg, work_dir="workers")
    loader = with_workers.runner.train_dataloader
    assert (loader.num_workers, loader.prefetch_factor, loader.persistent_workers) == (1, 3, True)
    assert loader.pin_memory is False  # "auto" on the CPU
    in_process = customrun_run(work_dir="in_process")
    assert in_process.runner.train_dataloader.num_workers == 0
    assert_same_training(with_workers, in_process, {"rtol": 0, "atol": 0})  # the same batches, bit for bit


@pytest.mark.parametrize(
    ("device", "pin_memory", "expected"),
    [("cpu", "auto", False), ("cuda", "auto", True), (None, "auto", False), ("cuda", False, False),
     ("cpu", True, True)],
)  # fmt: skip
def test_pin_memory_auto_pins_only_for_cuda(device: str | None, pin_memory: Any, expected: bool) -> None:
    cfg = {"batch_size": 4, "dataset": {"type": "DigitsDataset"}, "pin_memory": pin_memory}
    loader = build_dataloader(cfg, "train_dataloader", "<config>", seed=0, device=device)
    assert loader.pin_memory is expected  # the DataLoader is built, not iterated: no CUDA needed


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train_dataloader.prefetch_factor=2",
         "train_dataloader.prefetch_factor: needs worker processes, got num_workers = 0:"
         " set num_workers >= 1 or leave prefetch_factor out"),
        ("val_dataloader.persistent_workers=true",
         "val_dataloader.persistent_workers: needs worker processes, got num_workers = 0:"
         " set num_workers >= 1 or leave persistent_workers out"),
        ("train_dataloader={batch_size = 8, num_workers = 2, prefetch_factor = 0, dataset = {type = 'DigitsDataset'}}",
         "train_dataloader.prefetch_factor: expected an integer >= 1, got 0"),
        ("train_dataloader.pin_memory='yes'",
         "train_dataloader.pin_memory: expected a boolean or 'auto', got string 'yes'"),
        ("train_dataloader.prefetch_factr=2",
         "train_dataloader.prefetch_factr: unknown key (did you mean 'prefetch_factor'?)"),
    ],
    ids=["prefetch-without-workers", "persistent-without-workers", "prefetch-zero", "pin-memory-word",
         "misspelt-prefetch"],
)  # fmt: skip
def test_bad_dataloader_settings_are_one_line_errors(
    customrun_cli: Callable[..., CliResult], override: str, message: str
) -> None:
    result = customrun_cli("train", BASE, "--set", override)
    assert result.exit_code == 2, result.stderr
    assert result.stderr_lines == [f"error: --set: {message}"]  # the value came from --set (issue 21, item 6)


def test_speed_settings_are_validated_when_the_config_is_read() -> None:
    from customrun_core.config import load_config

    with pytest.raises(ConfigError, match=r"^<config>: channels_last: expected a boolean, got integer 1$"):
        load_config(tiny_config(channels_last=1))
    cfg = load_config(tiny_config(compile={"backend": "eager"}, channels_last=True, cudnn_benchmark=True))
    assert (cfg.compile, cfg.channels_last, cfg.cudnn_benchmark) == ({"backend": "eager"}, True, True)
    assert cfg.to_dict()["compile"] == {"backend": "eager"}  # the resolved config keeps the table as written
