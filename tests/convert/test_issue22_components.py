"""The components issue 22 adds come over through ``customrun convert``: kept without a report when
their distribution is installed, kept with the distribution to install when not."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from customrun_core import registry
from customrun_core.convert import convert_file

PRETRAIN = """
optim_wrapper = dict(
    optimizer=dict(type='Lamb', lr=0.005, weight_decay=0.02),
    constructor='LearningRateDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.65, custom_keys={'.cls_token': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='CosineAnnealingWeightDecay', eta_min=0.0, by_epoch=True, convert_to_iter_based=True),
    dict(type='PolyLRRatio', eta_min_ratio=0.1, power=0.9, by_epoch=False, begin=0, end=100),
]
"""
SEGMENTATION = """
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
    constructor='LayerDecayOptimizerConstructor',
    paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.9))
"""
ADDED = [
    ("optimizers", "Lamb", PRETRAIN),
    ("optim_wrapper_constructors", "LearningRateDecayOptimWrapperConstructor", PRETRAIN),
    ("param_schedulers", "CosineAnnealingWeightDecay", PRETRAIN),
    ("optim_wrapper_constructors", "LayerDecayOptimizerConstructor", SEGMENTATION),
]


def convert(tmp_path: Path, text: str) -> tuple[dict, list[str]]:
    source = tmp_path / "cfg.py"
    source.write_text(text, encoding="utf-8")
    conversion = convert_file(source)
    return conversion.data, [r.message for r in conversion.reports]


@pytest.mark.parametrize("text", [PRETRAIN, SEGMENTATION], ids=["mmpretrain", "mmseg"])
def test_installed_components_convert_without_a_report(text: str, tmp_path: Path) -> None:
    for kind, name, source in ADDED:
        if source == text and name not in registry.scan_entry_points()[kind]:
            pytest.skip(f"{registry.FIRST_PARTY[kind, name]} is not installed here")
    data, reports = convert(tmp_path, text)
    assert reports == []
    assert data["optim_wrapper"]["constructor"] in {name for _, name, _ in ADDED}


@pytest.mark.parametrize(("kind", "name", "text"), ADDED, ids=[name for _, name, _ in ADDED])
def test_a_missing_plugin_is_named(
    kind: str, name: str, text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scan = registry.scan_entry_points()
    kept = {k: {n: e for n, e in names.items() if (k, n) != (kind, name)} for k, names in scan.items()}
    monkeypatch.setattr(registry, "scan_entry_points", functools.cache(lambda: kept))
    _, reports = convert(tmp_path, text)
    dist = registry.FIRST_PARTY[kind, name]
    assert [r for r in reports if name in r] == [
        f"{registry.KINDS[kind]} {name!r} needs the plugin {dist}: pip install {dist}"
    ]
