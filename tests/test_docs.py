"""The docs stay in step with the code: every hook point and every config key is documented."""

from __future__ import annotations

from pathlib import Path

import attrs

from customrun_core import docsgen, hookspecs, registry
from customrun_core.cli.new_plugin import PLUGIN_KINDS, plugin_names
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


def test_the_hook_reference_in_the_plugin_guide_is_generated_from_hookspecs() -> None:
    text = (DOCS / "plugin-guide.md").read_text(encoding="utf-8")
    assert docsgen.render(text) == text, "docs/plugin-guide.md is stale: run python -m customrun_core.docsgen"
    for point in hookspecs.HOOK_POINTS:
        assert f"`{docsgen.signature(point)}`" in text


def test_the_docs_check_fails_on_a_stale_guide(tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text(f"# Guide\n\n{docsgen.START}\nold\n{docsgen.END}\n", encoding="utf-8")
    assert docsgen.main([str(guide), "--check"]) == 1
    assert docsgen.main([str(guide)]) == 0
    assert docsgen.main([str(guide), "--check"]) == 0
    assert guide.read_text(encoding="utf-8").endswith(f"{docsgen.END}\n")


def test_the_plugin_guide_lists_every_entry_point_group_and_plugin_kind() -> None:
    text = (DOCS / "plugin-guide.md").read_text(encoding="utf-8")
    for kind in [*registry.KINDS, "plugins"]:
        assert f"| `{registry.GROUP_PREFIX}{kind}` |" in text, kind
    for kind, spec in PLUGIN_KINDS.items():
        component = plugin_names("warmup-hold", kind).component
        assert f"| `{kind}` | `{registry.GROUP_PREFIX}{spec.group}` | `{component}` |" in text, kind


def test_every_test_the_guarantees_page_names_exists() -> None:
    """docs/guarantees.md holds each promise to a test by name: a renamed or deleted test breaks it."""
    import re

    root = DOCS.parent
    text = (DOCS / "guarantees.md").read_text(encoding="utf-8")
    named = re.findall(r"`([\w/.-]+\.py)(?:::(\w+))?`", text)
    assert len(named) >= 20
    for path, test in named:
        assert (root / path).is_file(), path
        if test:
            assert re.search(rf"^def {test}\(", (root / path).read_text(encoding="utf-8"), re.M), (
                f"{path}::{test}"
            )
