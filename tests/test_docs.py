"""The docs stay in step with the code: generated references are current, every code block in docs/
parses (or is an include of a real file), and the guides include the seed examples the tests train.

Markdown is read here by hand (fenced blocks, pymdownx.snippets' ``--8<-- "path"`` lines), so these
tests run without mkdocs; ``tox -e docs`` builds the site itself."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
import docsgen  # tools/docsgen.py (on sys.path through pyproject.toml's pytest pythonpath)
import pytest

from customrun_core import hookspecs, registry
from customrun_core.cli.new_plugin import PLUGIN_KINDS, plugin_names
from customrun_core.config import load_config
from customrun_core.config.schema import RunConfig, parse_config
from customrun_core.hooks.defaults import DEFAULT_HOOKS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
# One guide per seed topic, and the seed example (examples/seeds/) it must include.
GUIDES = {
    "custom-loop.md": "loop.toml",
    "custom-hook.md": "custom_hook.toml",
    "custom-optimizer.md": "custom_optimizer.toml",
    "optim-wrapper.md": "amp.toml",
    "constructor.md": "custom_constructor.toml",
    "schedulers.md": "mae_schedule.toml",
}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*)$")
_INCLUDE = re.compile(r'^\s*-{1,}8<-{1,}\s+"(?P<path>[^"]+)"\s*$')
# A deliberately partial snippet says so in its title: ```toml title="fragment: the optimizer only"
_PARTIAL = re.compile(r'\btitle="fragment\b')


@attrs.frozen
class Block:
    """One fenced code block of a page: its language (the info string's first word) and its text."""

    where: str
    lang: str
    info: str
    text: str

    @property
    def includes(self) -> list[str]:
        return [m["path"] for line in self.text.splitlines() if (m := _INCLUDE.match(line))]


def code_blocks(text: str, where: str = "<page>") -> Iterator[Block]:
    """The fenced blocks of a Markdown page, indented ones (in lists and tabs) included."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].strip()
        end = i + 1
        while end < len(lines) and not re.fullmatch(
            rf"[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*", lines[end]
        ):
            end += 1
        body = "\n".join(line[len(indent) :] for line in lines[i + 1 : end])
        yield Block(f"{where}:{i + 1}", info.split()[0] if info else "", info, body)
        i = end + 1


def check_block(block: Block, tmp_path: Path) -> None:
    """Raise (AssertionError, or the parser's error) when a block is neither a real include nor valid.

    An include must name an existing file (a config there must load); TOML must parse, a whole config
    (with ``model``) must load, and a fragment of one must use only config keys and pass validation
    with a model added; Python must compile; JSON must parse. Partial snippets are not parsed.
    """
    if block.includes:
        others = [line for line in block.text.splitlines() if line.strip() and not _INCLUDE.match(line)]
        assert not others, f"{block.where}: an include block holds other lines too: {others[0]!r}"
        for path in block.includes:
            assert (ROOT / path).is_file(), f"{block.where}: includes {path}, which does not exist"
            if path.endswith(".toml") and "model" in tomllib.loads((ROOT / path).read_text(encoding="utf-8")):
                load_config(ROOT / path)
        return
    if _PARTIAL.search(block.info):
        return
    if block.lang == "toml":
        data = tomllib.loads(block.text)
        if "model" in data:
            config = tmp_path / "snippet.toml"
            config.write_text(block.text, encoding="utf-8")
            load_config(config)
        elif set(data) & _config_keys():
            unknown = set(data) - _config_keys() - {"extends"}
            assert not unknown, f"{block.where}: not config keys: {sorted(unknown)}"
            data.pop("extends", None)
            parse_config({"model": {"type": "ClassifierModel"}, **data}, block.where)
    elif block.lang == "python":
        compile(block.text, block.where, "exec")
    elif block.lang == "json":
        json.loads(block.text)


def _config_keys() -> set[str]:
    return {f.name for f in attrs.fields(RunConfig) if f.metadata.get("config", True)}


def _all_blocks() -> list[Block]:
    return [
        b
        for page in PAGES
        for b in code_blocks(page.read_text(encoding="utf-8"), str(page.relative_to(ROOT)))
    ]


@pytest.mark.parametrize("block", _all_blocks(), ids=lambda b: b.where)
def test_every_code_block_in_the_docs_is_an_include_or_valid(block: Block, tmp_path: Path) -> None:
    check_block(block, tmp_path)


def test_the_block_check_refuses_broken_snippets_and_passes_marked_fragments(tmp_path: Path) -> None:
    page = "\n".join([
        "```toml", "optim_wrapper = { optimizer = { type = 'SGD', lr = 0.1 } }", "```",     # a valid fragment
        "- a list", "", "    ```python", "    def f(:", "    ```",                          # broken, indented
        "```toml", "optim_wraper = { optimizer = {} }", "model = 1", "```",                  # not a valid config
        "```toml", 'randomness = { seed = "zero" }', "```",                                  # a fragment, wrong type
        "```", '--8<-- "examples/seeds/nothing.toml"', "```",                               # missing include
        '```python title="fragment: one line of a loop"', "    self.run_iter(", "```",      # marked partial
    ])  # fmt: skip
    blocks = list(code_blocks(page))
    assert [b.lang for b in blocks] == ["toml", "python", "toml", "toml", "", "python"]
    check_block(blocks[0], tmp_path)
    for broken in blocks[1:5]:
        with pytest.raises(Exception):  # noqa: B017 (SyntaxError, ConfigError, AssertionError)
            check_block(broken, tmp_path)
    check_block(blocks[5], tmp_path)


# ---------------------------------------------------------------------------------------------- guides


SEEDS = ROOT / "examples" / "seeds"
# The configs tests/test_seed_examples.py trains (its EXAMPLES: the same glob).
TRAINED = sorted(p.name for p in SEEDS.glob("*.toml") if not p.name.startswith("_"))


def _includes(page: Path) -> list[str]:
    return [path for block in code_blocks(page.read_text(encoding="utf-8")) for path in block.includes]


def _imports(config: Path) -> list[str]:
    return tomllib.loads(config.read_text(encoding="utf-8")).get("custom_imports", {}).get("imports", [])


def test_every_seed_topic_has_a_guide_including_its_example() -> None:
    for guide, example in GUIDES.items():
        assert f"examples/seeds/{example}" in _includes(DOCS / "guides" / guide), guide


def test_the_guides_include_the_seed_examples_that_the_tests_train() -> None:
    trained = set(TRAINED)
    bases = {tomllib.loads((SEEDS / name).read_text()).get("extends") for name in trained} - {None}
    base_imports = {m for base in bases for m in _imports(SEEDS / base)}
    included: set[str] = set()
    for guide in sorted((DOCS / "guides").glob("*.md")):
        paths = [p for p in _includes(guide) if p.startswith("examples/seeds/")]
        configs = [ROOT / p for p in paths if p.endswith(".toml")]
        imported = {m for config in configs for m in _imports(config)}
        for path in paths:
            name = Path(path).name
            included.add(name)
            if name.endswith(".toml"):
                assert name in trained or name in bases, f"{guide.name}: {name} is not a trained example"
            else:  # a module: one the same page's configs import, and so one the tests train with
                assert Path(name).stem in imported, f"{guide.name}: {name} is imported by none of its configs"
    assert trained <= included, f"seed examples no guide includes: {sorted(trained - included)}"
    modules = {m for name in trained for m in _imports(SEEDS / name)} - base_imports
    assert {f"{m}.py" for m in modules} <= included


def test_the_nav_lists_every_page_and_only_pages_that_exist() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = re.findall(r"^\s*- [^:\n]+: (\S+\.md)\s*$", config, re.M)
    assert len(nav) >= 15
    for path in nav:
        assert (DOCS / path).is_file(), path
    pages = {str(page.relative_to(DOCS)) for page in PAGES}
    assert pages <= set(nav), sorted(pages - set(nav))


# ------------------------------------------------------------------------------ generated references


@pytest.mark.parametrize("name", docsgen.PAGE_NAMES)
def test_the_generated_references_are_current(name: str) -> None:
    page = DOCS / name  # this checkout's, whether customrun_core is installed from it or from a wheel
    text = page.read_text(encoding="utf-8")
    assert docsgen.render(text) == text, f"{page.name} is stale: run python tools/docsgen.py"


@pytest.mark.parametrize("name", list(docsgen.REFERENCES))
def test_the_docs_check_fails_on_a_stale_page(name: str, tmp_path: Path) -> None:
    start, end = docsgen.markers(name)
    page = tmp_path / "page.md"
    page.write_text(f"# Page\n\n{start}\nold\n{end}\n", encoding="utf-8")
    assert docsgen.main([str(page), "--check"]) == 1
    assert docsgen.main([str(page)]) == 0
    assert docsgen.main([str(page), "--check"]) == 0
    assert page.read_text(encoding="utf-8").endswith(f"{end}\n")


def test_the_docs_check_runs_as_tox_runs_it() -> None:
    """A script outside the package, run from the checkout's root against the installed core."""
    done = subprocess.run(
        [sys.executable, "tools/docsgen.py", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert not (ROOT / "customrun_core" / "docsgen.py").exists()  # not in the wheel


def test_the_cli_reference_documents_the_core_commands_only(customrun_distribution) -> None:
    customrun_distribution(
        "customrun-extra",
        entry_points={"customrun.commands": {"extra": "extra_cmd:extra"}},
        modules={"extra_cmd.py": "raise RuntimeError('imported!')\n"},
    )
    text = docsgen.cli_reference()
    assert re.findall(r"^## `customrun (\S+)`$", text, re.M) == [
        "train", "test", "config", "plugins", "schedule", "param-groups", "new-plugin", "plot", "convert",
    ]  # fmt: skip


# Every hook point's signature, written out by hand from hookspecs.py, in firing order.
HOOK_SIGNATURES = [
    "before_run(runner)",
    "after_load_checkpoint(runner, checkpoint: dict)",
    "before_train(runner)",
    "before_train_epoch(runner)",
    "before_train_iter(runner, batch_idx: int, data_batch: Any)",
    "before_optimizer_step(runner, optim_wrapper: OptimWrapper)",
    "after_train_iter(runner, batch_idx: int, data_batch: Any, outputs: dict)",
    "after_log_record(runner, record: Mapping[str, Any])",
    "after_train_epoch(runner)",
    "before_val(runner)",
    "before_val_epoch(runner)",
    "before_val_iter(runner, batch_idx: int, data_batch: Any)",
    "after_val_iter(runner, batch_idx: int, data_batch: Any, outputs: Any)",
    "after_val_epoch(runner, metrics: dict)",
    "after_val(runner)",
    "before_save_checkpoint(runner, checkpoint: dict)",
    "after_train(runner)",
    "before_test(runner)",
    "before_test_epoch(runner)",
    "before_test_iter(runner, batch_idx: int, data_batch: Any)",
    "after_test_iter(runner, batch_idx: int, data_batch: Any, outputs: Any)",
    "after_test_epoch(runner, metrics: dict)",
    "after_test(runner)",
    "after_run(runner)",
]


def test_the_hook_reference_has_every_hook_point_with_its_signature() -> None:
    text = (DOCS / "plugin-guide.md").read_text(encoding="utf-8")
    assert [s.partition("(")[0] for s in HOOK_SIGNATURES] == list(hookspecs.HOOK_POINTS)
    for signature in HOOK_SIGNATURES:
        assert f"### `{signature.partition('(')[0]}`\n\n`{signature}`" in text, signature
    assert "`after_train_iter(runner, batch_idx: int, data_batch: Any, outputs: dict)`" in text


def test_every_hook_point_is_in_the_hook_docs_in_firing_order() -> None:
    text = (DOCS / "hooks.md").read_text()
    positions = [text.index(f"| `{point}` |") for point in hookspecs.HOOK_POINTS]
    assert positions == sorted(positions)


def test_every_hook_point_has_a_contract() -> None:
    for point in hookspecs.HOOK_POINTS:
        assert (getattr(hookspecs, point).__doc__ or "").startswith("Fires"), point


def test_the_config_reference_gives_type_and_default_of_every_key() -> None:
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    for field in attrs.fields(RunConfig):
        if field.metadata.get("config", True):
            assert f"| `{field.name}` |" in text, field.name
    for row in [  # written out by hand from schema.py
        "| `model` | table | required |",
        '| `device` | string | `"auto"` |',
        '| `sync_bn` | boolean or `"torch"` | `false` |',
        "| `custom_hooks` | array of tables | `[]` |",
        '| `launcher` | `"none"` or `"torchrun"` | none |',
        "| `plugins` | table | `{enable = [], disable = [], require = []}` |",
        "| `timeout` | integer | `1800` |",
        "| `seed` | integer | none |",
        "| `allow_failed_imports` | boolean | `false` |",
        "| `extends` | string or array of strings | none |",
    ]:
        assert row in text, row
    for key, hook in DEFAULT_HOOKS.items():
        assert f"| `{key}` | {hook}" in text, key


@attrs.frozen
class _Inner:
    """Settings."""

    depth: int = 2


@attrs.frozen
class _Config:
    model: dict
    inner: _Inner = attrs.field(factory=_Inner)
    novel: bool = attrs.field(default=False, metadata={"doc": "a documented switch"})


def test_a_config_field_without_a_meaning_fails_the_reference() -> None:
    text = docsgen.config_reference(
        _Config, {"model": "the model", "inner": "below", "inner.depth": "how deep"}
    )
    assert "| `novel` | boolean | `false` | a documented switch |" in text
    assert "### `inner`\n\nSettings.\n" in text
    assert "| `depth` | integer | `2` | how deep |" in text
    with pytest.raises(docsgen.DocsError, match=r"'inner\.depth' \(_Inner\.depth\) has no meaning"):
        docsgen.config_reference(_Config, {"model": "the model", "inner": "below"})
    with pytest.raises(docsgen.DocsError, match="do not exist: old"):
        docsgen.config_reference(_Config, {"model": "m", "inner": "i", "inner.depth": "d", "old": "gone"})


def test_the_docs_check_names_a_config_key_without_a_meaning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    meanings = dict(docsgen.MEANINGS)
    del meanings["device"]
    monkeypatch.setattr(docsgen, "MEANINGS", meanings)
    assert docsgen.main([str(DOCS / "config.md"), "--check"]) == 1
    assert "config key 'device' (RunConfig.device) has no meaning" in capsys.readouterr().err


def test_the_cli_reference_has_every_command_and_option() -> None:
    import click

    from customrun_core.cli import cli
    from customrun_core.commands import CORE_SUMMARIES

    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    ctx = click.Context(cli, info_name="customrun")
    for name in CORE_SUMMARIES:
        assert f"## `customrun {name}`" in text, name
        command = cli.get_command(ctx, name)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert f"`{param.opts[-1]}" in text or f", {param.opts[-1]}" in text, (name, param.opts)
    assert "| `--set KEY.PATH=VALUE` | Override a config value (TOML value syntax; repeatable)" in text
    assert "```\ncustomrun train [OPTIONS] CFG\n```" in text


# ------------------------------------------------------------------------------------ hand-written pages


def test_the_plugin_guide_lists_every_entry_point_group_and_plugin_kind() -> None:
    text = (DOCS / "plugin-guide.md").read_text(encoding="utf-8")
    for kind in [*registry.KINDS, "plugins"]:
        assert f"| `{registry.GROUP_PREFIX}{kind}` |" in text, kind
    for kind, spec in PLUGIN_KINDS.items():
        component = plugin_names("warmup-hold", kind).component
        assert f"| `{kind}` | `{registry.GROUP_PREFIX}{spec.group}` | `{component}` |" in text, kind


def test_every_test_the_docs_name_exists() -> None:
    """guarantees.md (and the guides) hold promises to tests by name: a renamed test breaks them."""
    pattern = r"`([\w/.-]+\.py)(?:::(\w+))?`"
    named = re.findall(pattern, (DOCS / "guarantees.md").read_text(encoding="utf-8"))
    assert len(named) >= 20
    for guide in sorted((DOCS / "guides").glob("*.md")):
        named += [
            m for m in re.findall(pattern, guide.read_text(encoding="utf-8")) if m[0].startswith("tests/")
        ]
    for path, test in named:
        assert (ROOT / path).is_file(), path
        if test:
            assert re.search(rf"^def {test}\(", (ROOT / path).read_text(encoding="utf-8"), re.M), (
                f"{path}::{test}"
            )


def test_the_docs_check_outside_a_checkout_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no docs/ here
    assert docsgen.main(["--check"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "docs/plugin-guide.md: No such file or directory (run it from the root of a checkout)"
    assert len(lines) == len(docsgen.PAGE_NAMES)
