"""The docs stay in step with the code: every hook point and every config key is documented."""

from __future__ import annotations

from pathlib import Path

import attrs

from customrun_core import hookspecs
from customrun_core.config.schema import RunConfig
from customrun_core.hooks.defaults import DEFAULT_HOOKS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_point_is_in_the_hook_docs_in_firing_order() -> None:
    text = (DOCS / "hooks.md").read_text()
    positions = [text.index(f"| `{point}` |") for point in hookspecs.HOOK_POINTS]
    assert positions == sorted(positions)


def test_every_hook_point_has_a_contract() -> None:
    for point in hookspecs.HOOK_POINTS:
        assert (getattr(hookspecs, point).__doc__ or "").startswith("Fires"), point


def test_every_config_key_and_default_hook_is_in_the_config_reference() -> None:
    text = (DOCS / "config.md").read_text()
    for field in attrs.fields(RunConfig):
        if field.metadata.get("config", True):
            assert f"| `{field.name}` |" in text, field.name
    for key, hook in DEFAULT_HOOKS.items():
        assert f"| `{key}` | {hook}" in text, key
