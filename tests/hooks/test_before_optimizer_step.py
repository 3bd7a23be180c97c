"""before_optimizer_step: fired by the optim wrapper on the iterations that step, with the gradients
torch computes for the step's batches (before clipping), once per wrapper that steps, and not at
all when no hook implements it. The per-layer gradient-norm example of docs/hooks.md runs here too.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from customrun_core import Hook, Runner, hookimpl, unwrap_model
from customrun_core.hooks.dispatch import HookDispatcher
from customrun_core.testing import assert_resume_is_exact, tiny_config

_DATA = torch.Generator().manual_seed(0)
INPUTS = torch.randn(80, 8, generator=_DATA)
TARGETS = torch.randint(0, 3, (80,), generator=_DATA)
BATCH = 8  # 10 iterations an epoch, in order (no shuffling)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


class Net(nn.Module):
    """Two layers; ``forward(inputs, targets)`` returns the cross-entropy loss (a plain model)."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(8, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.head(torch.relu(self.hidden(inputs)))
        return logits if targets is None else nn.functional.cross_entropy(logits, targets)


class GradProbe(Hook):
    """Keeps the parameters each iteration starts from, and per call of the hook point the
    iteration, the wrapper passed and clones of the gradients it shows."""

    def __init__(self) -> None:
        self.params_at: dict[int, dict[str, torch.Tensor]] = {}
        self.steps: list[tuple[int, Any, dict[str, torch.Tensor]]] = []

    def before_train_iter(self, runner: Any, batch_idx: int, data_batch: Any = None) -> None:
        state = unwrap_model(runner.model).state_dict()
        self.params_at[runner.iter] = {name: value.clone() for name, value in state.items()}

    def before_optimizer_step(self, runner: Any, optim_wrapper: Any) -> None:
        named = unwrap_model(runner.model).named_parameters()
        grads = {name: p.grad.clone() for name, p in named if p.grad is not None}
        self.steps.append((runner.iter, optim_wrapper, grads))


def run(tmp_path: Path, *hooks: Hook, **changes: Any) -> Runner:
    loader = DataLoader(TensorDataset(INPUTS, TARGETS), batch_size=BATCH)
    cfg = tiny_config(
        model=Net(), train_dataloader=loader, custom_hooks=list(hooks), work_dir=str(tmp_path / "w")
    )
    del cfg["val_dataloader"], cfg["val_evaluator"]
    cfg.update(changes)
    runner = Runner.from_config(cfg)
    runner.train()
    return runner


def by_hand(state: dict[str, torch.Tensor], iterations: range, divisor: int) -> dict[str, torch.Tensor]:
    """The gradients torch computes from ``state`` for the batches of ``iterations``, each loss
    divided by ``divisor`` (MMEngine's accumulation rule), summed by backward."""
    net = Net()
    net.load_state_dict(state)
    for i in iterations:
        rows = slice(i * BATCH, (i + 1) * BATCH)
        (net(INPUTS[rows], TARGETS[rows]) / divisor).backward()
    return {name: p.grad for name, p in net.named_parameters() if p.grad is not None}


def total_norm(grads: dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(g.square().sum()) for g in grads.values()))


def test_the_hook_sees_the_batchs_gradients_before_clipping(tmp_path: Path) -> None:
    probe = GradProbe()
    clip = {"type": "norm", "max_norm": 0.05}
    runner = run(tmp_path, probe, optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.1}, "clip_grad": clip})
    assert [step[0] for step in probe.steps] == list(range(10))
    for iteration, wrapper, grads in probe.steps:
        assert wrapper is runner.optim_wrapper
        torch.testing.assert_close(
            grads, by_hand(probe.params_at[iteration], range(iteration, iteration + 1), 1)
        )
        assert total_norm(grads) > 0.05  # clipping would have changed them: the hook came first
    # clip_grad_norm_ reports the norm before it clipped: the one of the last gradients the hook saw
    assert float(runner.optim_wrapper.last_grad_norm) == pytest.approx(
        total_norm(probe.steps[-1][2]), rel=1e-6
    )


def test_with_accumulation_it_fires_once_per_window_with_the_windows_gradients(tmp_path: Path) -> None:
    probe = GradProbe()
    run(tmp_path, probe, optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.1}, "accumulative_counts": 4})
    # 10 iterations: windows 0-3 and 4-7, then the run's last, shorter window 8-9 (divided by 2)
    assert [step[0] for step in probe.steps] == [3, 7, 9]
    for (last, _, grads), first, divisor in zip(probe.steps, (0, 4, 8), (4, 4, 2), strict=True):
        torch.testing.assert_close(grads, by_hand(probe.params_at[first], range(first, last + 1), divisor))


class TwoParts(nn.Module):
    """Two submodules, each stepped by its own optim wrapper in ``train_step``."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Linear(8, 3)
        self.discriminator = nn.Linear(8, 3)

    def train_step(self, data_batch: Any, optim_wrapper: Any) -> dict[str, torch.Tensor]:
        inputs, targets = data_batch
        for name in ("generator", "discriminator"):
            wrapper = optim_wrapper[name]
            with wrapper.optim_context(self):
                loss = nn.functional.cross_entropy(getattr(self, name)(inputs), targets)
            wrapper.update_params(loss)
        return {"loss": loss.detach()}

    def val_step(self, data_batch: Any) -> torch.Tensor:
        return self.generator(data_batch[0])

    test_step = val_step


def test_each_optim_wrapper_that_steps_fires_it_once(tmp_path: Path) -> None:
    probe = GradProbe()
    optim = {
        "generator": {"optimizer": {"type": "SGD", "lr": 0.1}},
        "discriminator": {"optimizer": {"type": "SGD", "lr": 0.1}, "accumulative_counts": 2},
    }
    runner = run(tmp_path, probe, model=TwoParts(), optim_wrapper=optim)
    names = {id(wrapper): name for name, wrapper in runner.optim_wrapper.items()}
    fired = [(iteration, names[id(wrapper)]) for iteration, wrapper, _ in probe.steps]
    expected = [(i, "generator") for i in range(10)] + [(i, "discriminator") for i in range(1, 10, 2)]
    assert fired == sorted(expected, key=lambda call: (call[0], call[1] != "generator"))


class ZeroGrads(Hook):
    def before_optimizer_step(self, runner: Any, optim_wrapper: Any) -> None:
        for group in optim_wrapper.optimizer.param_groups:
            for param in group["params"]:
                param.grad.zero_()


def test_the_optimizer_steps_with_the_gradients_the_hook_leaves(tmp_path: Path) -> None:
    probe = GradProbe()
    runner = run(tmp_path, probe, ZeroGrads(), optim_wrapper={"optimizer": {"type": "SGD", "lr": 0.1}})
    torch.testing.assert_close(unwrap_model(runner.model).state_dict(), probe.params_at[0])


def test_without_an_implementation_nothing_is_fired_or_recorded(customrun_run: Any) -> None:
    fast = ["train_dataloader.batch_size=719", "default_hooks.logger=false"]
    plain = customrun_run(overrides=fast)
    assert plain.runner.optim_wrapper.before_step_hooks is None
    assert "before_optimizer_step" not in plain.points
    hooked = customrun_run(hooks=[GradProbe()], overrides=fast)
    points = [
        p for p in hooked.points if p in ("before_train_iter", "before_optimizer_step", "after_train_iter")
    ]
    assert points == ["before_train_iter", "before_optimizer_step", "after_train_iter"] * 2
    assert hooked.calls_to("before_optimizer_step")[0].arguments == ("optim_wrapper",)


class _PluggyStyle:
    def __init__(self, log: list[Any]) -> None:
        self.log = log

    @hookimpl
    def before_optimizer_step(self, runner: Any, optim_wrapper: Any) -> None:
        self.log.append((runner, optim_wrapper))


def test_bind_returns_none_until_a_hook_implements_the_point() -> None:
    dispatcher = HookDispatcher()
    dispatcher.add(Hook())  # a hook implementing nothing
    assert dispatcher.bind("before_optimizer_step", runner="r") is None
    log: list[Any] = []
    dispatcher.add(_PluggyStyle(log))
    seen: list[str] = []
    dispatcher.monitor(lambda point, kwargs: seen.append(point))
    fire = dispatcher.bind("before_optimizer_step", runner="r")
    assert fire is not None
    fire(optim_wrapper="w")
    assert log == [("r", "w")] and seen == ["before_optimizer_step"]


# -- the example of docs/hooks.md ---------------------------------------------------------------------


def docs_example() -> type[Hook]:
    """``LayerGradNormHook`` from the page's ``layer_grad_norm.py`` block, executed as written."""
    (block,) = re.findall(
        r'```python title="layer_grad_norm.py"\n(.*?)```', DOCS.read_text(encoding="utf-8"), re.S
    )
    namespace: dict[str, Any] = {"__name__": "layer_grad_norm"}
    exec(compile(block, "docs/hooks.md:layer_grad_norm.py", "exec"), namespace)
    hook_class: type[Hook] = namespace["LayerGradNormHook"]
    return hook_class


def test_the_docs_example_logs_the_layer_norms_torch_computes(tmp_path: Path) -> None:
    probe = GradProbe()
    optim = {"optimizer": {"type": "SGD", "lr": 0.1}, "clip_grad": {"type": "norm", "max_norm": 0.05}}
    logger = {"logger": {"type": "LoggerHook", "interval": 1}}
    runner = run(tmp_path, probe, docs_example()(), optim_wrapper=optim, default_hooks=logger)
    lines = (runner.work_dir / "scalars.jsonl").read_text(encoding="utf-8").splitlines()
    records = [record for record in map(json.loads, lines) if record["mode"] == "train"]
    assert [record["step"] for record in records] == list(range(1, 11))
    for record in records:
        iteration = record["step"] - 1
        grads = by_hand(probe.params_at[iteration], range(iteration, iteration + 1), 1)
        for layer in ("hidden", "head"):
            expected = torch.linalg.vector_norm(
                torch.cat([grads[f"{layer}.weight"].flatten(), grads[f"{layer}.bias"]])
            )
            assert record[f"grad_norm/{layer}"] == pytest.approx(float(expected), rel=1e-6)
        # the layers' norms make up the total norm clip_grad_norm_ logged before clipping
        layers = math.hypot(record["grad_norm/hidden"], record["grad_norm/head"])
        assert record["grad_norm"] == pytest.approx(layers, rel=1e-6) and record["grad_norm"] > 0.05


def test_resume_is_exact_with_the_docs_example_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tiny_config(custom_hooks=[docs_example()(interval=2)], optim_wrapper={
        "optimizer": {"type": "SGD", "lr": 0.1, "momentum": 0.9}, "accumulative_counts": 2,
    })  # fmt: skip
    assert assert_resume_is_exact(config, tmp_path, every=7) == [7, 14, 21]
