"""The seeds' NewHook ("Customize Runtime Settings", MMSelfSup and MMSeg versions) runs on customrun.

The seed code is used as written; only its imports change (``mmengine.hooks.Hook`` ->
``customrun_core.Hook``, ``mmselfsup.utils.get_model`` -> ``customrun_core.unwrap_model``, the
``HOOKS`` registry -> ``customrun_core.register("hooks")``). The hook is found either through the
config's ``custom_imports`` (module in the working directory) or through a ``customrun.hooks`` entry
point of an installed distribution, which needs no register call at all.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import tomli_w

from customrun_core import Runner, registry
from customrun_core.testing import tiny_config

MMSELFSUP_SEED = '''
# Copyright (c) OpenMMLab. All rights reserved.
from typing import Optional, Sequence

from customrun_core import Hook
{register_import}
from customrun_core import unwrap_model as get_model


{decorator}
class NewHook(Hook):
    """Docstring for NewHook.
    """

    def __init__(self, a: int, b: int) -> None:
        self.a = a
        self.b = b

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[Sequence[dict]] = None) -> None:
        cur_iter = runner.iter
        get_model(runner.model).hyper_parameter = self.a * cur_iter + self.b
'''

# The MMSeg seed leaves ``model`` unbound when the model is not wrapped (a NameError on a single
# device); this variant adds ``model = runner.model`` before the seed's unchanged if-statement.
MMSEG_SEED = '''
# Copyright (c) OpenMMLab. All rights reserved.
from typing import Optional, Sequence

from customrun_core import Hook, is_model_wrapper
{register_import}


{decorator}
class NewHook(Hook):
    """Docstring for NewHook.
    """

    def __init__(self, a: int, b: int) -> None:
        self.a = a
        self.b = b

    def before_train_iter(self,
                          runner,
                          batch_idx: int,
                          data_batch: Optional[Sequence[dict]] = None) -> None:
        cur_iter = runner.iter
        model = runner.model  # added: the seed assigns model only inside the if below
        # 当模型被包在 wrapper 里时获取这个模型
        if is_model_wrapper(runner.model):
          model = runner.model.module
        model.hyper_parameter = self.a * cur_iter + self.b
'''

# The MMSeg seed exactly as published (imports aside): correct when the model is wrapped.
MMSEG_SEED_VERBATIM = MMSEG_SEED.replace(
    "        model = runner.model  # added: the seed assigns model only inside the if below\n", ""
)

SEEDS = {"mmselfsup": MMSELFSUP_SEED, "mmseg": MMSEG_SEED}

PROBE_SOURCE = '''
"""A classifier that records model.hyper_parameter as each train_step starts (customrun-seed-probe)."""

from torch import nn

from customrun_core.models.classifier import ClassifierModel
from customrun_core.models.wrappers import register_model_wrapper

seen = []


class ProbeClassifier(ClassifierModel):
    hyper_parameter = None

    def train_step(self, data_batch, optim_wrapper):
        seen.append(self.hyper_parameter)
        return super().train_step(data_batch, optim_wrapper)


@register_model_wrapper
class ProbeWrapper(nn.Module):
    """A DDP-like wrapper: the real model is ``.module``."""

    def __init__(self, backbone):
        super().__init__()
        self.module = ProbeClassifier(backbone)

    def train_step(self, data_batch, optim_wrapper):
        return self.module.train_step(data_batch, optim_wrapper)

    def val_step(self, data_batch):
        return self.module.val_step(data_batch)

    def test_step(self, data_batch):
        return self.module.test_step(data_batch)
'''


def seed_source(seed: str, registered: bool) -> str:
    """The seed module: ``@register("hooks")`` for custom_imports, nothing for an entry point."""
    return seed.format(
        register_import="from customrun_core import register" if registered else "",
        decorator='@register("hooks")' if registered else "",
    )


@pytest.fixture(autouse=True)
def _isolated_registry(customrun_isolated: None) -> None:
    """Each test imports its own ``new_hook`` and registers its own NewHook and model wrapper;
    ``customrun_isolated`` undoes the registrations and forgets the modules after the test."""
    sys.modules.pop("new_hook", None)  # another test module may have imported examples/seeds/new_hook.py


@pytest.fixture
def probe(customrun_distribution: Callable[..., Any]) -> ModuleType:
    customrun_distribution(
        "customrun-seed-probe",
        entry_points={"customrun.models": {"ProbeClassifier": "seed_probe:ProbeClassifier",
                                           "ProbeWrapper": "seed_probe:ProbeWrapper"}},
        modules={"seed_probe.py": PROBE_SOURCE},
    )  # fmt: skip
    return importlib.import_module("seed_probe")


def seed_config(new_hook: dict[str, Any], model: str = "ProbeClassifier", **changes: Any) -> dict[str, Any]:
    """tiny_config, 2 epochs of 2 batches, the probe model and the seed's ``custom_hooks`` entry."""
    cfg = tiny_config(custom_hooks=[{"type": "NewHook", **new_hook}], **changes)
    cfg["model"] = {**cfg["model"], "type": model}
    cfg["train_cfg"] = {"type": "EpochBasedTrainLoop", "max_epochs": 2}
    cfg["train_dataloader"]["batch_size"] = 719  # 1,438 train images: 2 iterations per epoch
    cfg["val_dataloader"]["batch_size"] = 359
    cfg["default_hooks"] = {"logger": False}
    return cfg


def expected(a: int, b: int) -> list[int]:
    """hyper_parameter = a * runner.iter + b, for iterations 0, 1, 2, 3."""
    return [b, a + b, 2 * a + b, 3 * a + b]


@pytest.mark.parametrize("seed", sorted(SEEDS))
@pytest.mark.parametrize(("a", "b"), [(2, 3), (-1, 10)])
def test_newhook_from_custom_imports(tmp_path: Path, probe: ModuleType, seed: str, a: int, b: int) -> None:
    """Step 2 of the seeds: ``custom_imports`` with the module in the working directory (tmp_path)."""
    (tmp_path / "new_hook.py").write_text(textwrap.dedent(seed_source(SEEDS[seed], registered=True)), "utf-8")
    cfg = seed_config(
        {"a": a, "b": b}, custom_imports={"imports": ["new_hook"], "allow_failed_imports": False}
    )
    (tmp_path / "config.toml").write_text(tomli_w.dumps(cfg), "utf-8")
    Runner.from_config("config.toml").train()
    assert probe.seen == expected(a, b)


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_newhook_from_an_entry_point(
    customrun_distribution: Callable[..., Any], probe: ModuleType, seed: str
) -> None:
    """The same seed shipped by a distribution: the entry point is the registration."""
    customrun_distribution(
        "customrun-new-hook",
        entry_points={"customrun.hooks": {"NewHook": "new_hook_dist.new_hook:NewHook"}},
        modules={
            "new_hook_dist/__init__.py": "",
            "new_hook_dist/new_hook.py": seed_source(SEEDS[seed], False),
        },
    )
    Runner.from_config(seed_config({"a": 5, "b": 1})).train()
    assert probe.seen == expected(5, 1)
    assert "NewHook" not in registry._registered["hooks"]


def test_verbatim_mmseg_seed_with_a_wrapped_model(
    customrun_distribution: Callable[..., Any], probe: ModuleType
) -> None:
    """Unchanged MMSeg logic: ``is_model_wrapper(runner.model)`` then ``runner.model.module``."""
    customrun_distribution(
        "customrun-new-hook",
        entry_points={"customrun.hooks": {"NewHook": "new_hook_dist.new_hook:NewHook"}},
        modules={
            "new_hook_dist/__init__.py": "",
            "new_hook_dist/new_hook.py": seed_source(MMSEG_SEED_VERBATIM, False),
        },
    )
    runner = Runner.from_config(seed_config({"a": 2, "b": 7}, model="ProbeWrapper"))
    runner.train()
    assert type(runner.model).__name__ == "ProbeWrapper"
    assert probe.seen == expected(2, 7)


def test_published_mmseg_seed_needs_a_wrapped_model(
    customrun_distribution: Callable[..., Any], probe: ModuleType
) -> None:
    """Why the MMSeg variant above adds ``model = runner.model``: unwrapped, the seed's ``model`` is unbound."""
    customrun_distribution(
        "customrun-new-hook",
        entry_points={"customrun.hooks": {"NewHook": "new_hook_dist.new_hook:NewHook"}},
        modules={
            "new_hook_dist/__init__.py": "",
            "new_hook_dist/new_hook.py": seed_source(MMSEG_SEED_VERBATIM, False),
        },
    )
    with pytest.raises(UnboundLocalError, match="model"):
        Runner.from_config(seed_config({"a": 2, "b": 7})).train()


@pytest.mark.parametrize(
    ("priority", "before_train_iter"),
    [
        (
            "ABOVE_NORMAL",  # the seeds' Step 3 example
            [("RuntimeInfoHook", "VERY_HIGH"), ("NewHook", "ABOVE_NORMAL"), ("IterTimerHook", "NORMAL")],
        ),
        (None, [("RuntimeInfoHook", "VERY_HIGH"), ("IterTimerHook", "NORMAL"), ("NewHook", "NORMAL")]),
    ],
)
def test_newhook_priority_from_config(
    tmp_path: Path, probe: ModuleType, priority: str | None, before_train_iter: list[tuple[str, str]]
) -> None:
    (tmp_path / "new_hook.py").write_text(seed_source(MMSELFSUP_SEED, registered=True), "utf-8")
    new_hook: dict[str, Any] = {"a": 1, "b": 0} | ({"priority": priority} if priority else {})
    runner = Runner.from_config(seed_config(new_hook, custom_imports={"imports": ["new_hook"]}))
    assert runner.hooks.order()["before_train_iter"] == before_train_iter
    runner.train()
    assert probe.seen == expected(1, 0)
