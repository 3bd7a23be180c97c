"""Broken configs made by mutating the examples (examples/digits.toml and examples/seeds/), each run
through ``customrun train``: every one must stop with exit status 2 and one line on stderr that names
the file and the key path of the mutation (for a TOML syntax error, the file and the line), with no
traceback and no usage block.

The mutations are drawn with a seeded ``random.Random``, so the cases are the same on every run. Each
is made invalid by construction: a required key deleted (the list below says which keys are required,
independently of the code under test), a key misspelt, a value of a kind no annotation accepts, a value
out of its range, an unknown key, a misspelt ``type``, or broken TOML. A mutation that leaves a valid
config would start training: that is caught at the first iteration and fails the case.
"""

from __future__ import annotations

import collections
import fnmatch
import json
import random
import re
import shutil
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import tomli_w

from customrun_core import registry
from customrun_core.config.loader import load_file
from customrun_core.runner import Runner
from customrun_core.testing import CliResult

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
SEEDS = EXAMPLES_DIR / "seeds"
EXAMPLES = [
    EXAMPLES_DIR / "digits.toml",
    *sorted(p for p in SEEDS.glob("*.toml") if not p.name.startswith("_")),
]

Path_ = tuple[str | int, ...]  # a place in a config: table keys and array indices

# Keys a run cannot do without, as patterns over "a.b.#.c" (# for an array index): what the config
# reference and the components' signatures say, written here by hand.
REQUIRED = (
    "model", "model.type", "model.backbone", "model.backbone.type", "train_dataloader", "train_cfg",
    "optim_wrapper", "optim_wrapper.optimizer", "optim_wrapper.optimizer.type", "*_dataloader.dataset",
    "*_dataloader.dataset.type", "*_evaluator.type", "*_evaluator.#.type", "param_scheduler.type",
    "param_scheduler.#.type", "custom_hooks.#.type",
)  # fmt: skip
REQUIRED_ARGUMENTS = {  # a component's arguments without a default
    "MLP": ("in_features", "num_classes"),
    "EpochBasedTrainLoop": ("max_epochs",),
    "IterBasedTrainLoop": ("max_iters",),
    "MultiStepLR": ("milestones",),
    "LARS": ("lr",),
    "MyOptimizer": ("a", "b", "c"),
    "NewHook": ("a", "b"),
}
# Tables whose keys are the user's own names (parameter-name patterns), not arguments.
FREE_FORM = ("optim_wrapper.paramwise_cfg.custom_keys",)
# Tables that take keys of any name: a custom key's entries are copied into its parameter groups
# for the optimizer to read (MMEngine's rule; only a near-miss of a known name is refused).
OPEN = ("optim_wrapper.paramwise_cfg.custom_keys.*",)
# Values out of range for keys an example has; each maps the current value to a bad one.
OUT_OF_RANGE: dict[str, Callable[[Any], Any]] = {
    "optim_wrapper.optimizer.lr": lambda v: -abs(v) or -0.1,
    "optim_wrapper.optimizer.weight_decay": lambda v: -abs(v) or -1e-4,
    "optim_wrapper.optimizer.momentum": lambda v: -abs(v) or -0.9,
    "*_dataloader.batch_size": lambda v: -v // 2,
    "train_cfg.max_epochs": lambda v: 1 - v if v > 1 else 0,
    "train_cfg.val_interval": lambda v: 0,
    "randomness.seed": lambda v: -1 - v,
    "custom_hooks.#.priority": lambda v: 101,
    "default_hooks.*.interval": lambda v: 0,
}
# Out-of-range keys an example may lack, added to a table it has.
OUT_OF_RANGE_ADDED: dict[Path_, Any] = {
    ("train_dataloader", "num_workers"): -1,
    ("train_cfg", "val_interval"): 0,
    ("optim_wrapper", "accumulative_counts"): 0,
    ("optim_wrapper", "clip_grad"): {"max_norm": 0},
    ("dist_cfg",): {"timeout": 0},
    ("default_hooks", "checkpoint", "priority"): 150,
}
UNKNOWN_NAMES = ("colour", "learning_rate", "max_epoch", "verbose", "num_gpus", "warmup_iters", "momentun")
BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
# How many cases of each kind an example gives (fewer where it has fewer places for them).
PER_KIND = {
    "deleted": 3,
    "renamed": 4,
    "retyped": 4,
    "out-of-range": 3,
    "unknown-key": 3,
    "wrong-type-name": 2,
    "truncated": 1,
    "unclosed-bracket": 1,
    "duplicate-key": 1,
}


class Mutation(NamedTuple):
    """One broken config: what was done where, and what its error line must name."""

    example: Path
    kind: str
    where: tuple[str, ...]  # key paths the line may name (or whose sub-keys it may name)
    data: dict[str, Any] | None = None  # the mutated config (extends merged), or
    text: str | None = None  # the mutated file, for TOML syntax errors
    line: int = 0  # the line a TOML syntax error is on

    @property
    def id(self) -> str:
        detail = self.where[0] if self.where else f"line-{self.line}"
        return f"{self.example.stem}-{self.kind}-{detail}"


def key_path(path: Path_) -> str:
    """``optim_wrapper.paramwise_cfg.custom_keys."downsample.1"``, ``param_scheduler[0].end``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + (part if BARE_KEY.fullmatch(part) else json.dumps(part))
    return text


def pattern_path(path: Path_) -> str:
    return ".".join("#" if isinstance(part, int) else part for part in path)


def matches(path: Path_, patterns: Any) -> bool:
    return any(fnmatch.fnmatchcase(pattern_path(path), pattern) for pattern in patterns)


def walk(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every place in a config below the top, parents first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*path, key), value
        yield from walk(value, (*path, key))


def get(data: Any, path: Path_) -> Any:
    for part in path:
        data = data[part]
    return data


def _copy_at(data: dict[str, Any], path: Path_) -> tuple[dict[str, Any], Any]:
    """A deep copy of ``data``, and the table (or array) in it that holds ``path`` (made if missing)."""
    copy = json.loads(json.dumps(data))
    parent: Any = copy
    for part in path[:-1]:
        parent = parent.setdefault(part, {}) if isinstance(parent, dict) else parent[part]
    return copy, parent


def with_value(data: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    copy, parent = _copy_at(data, path)
    parent[path[-1]] = value
    return copy


def without(data: dict[str, Any], path: Path_) -> dict[str, Any]:
    copy, parent = _copy_at(data, path)
    del parent[path[-1]]
    return copy


def renamed(data: dict[str, Any], path: Path_, name: str) -> dict[str, Any]:
    copy, parent = _copy_at(data, path)
    parent[name] = parent.pop(path[-1])
    return copy


def misspelt(name: str, rng: random.Random) -> str:
    """``name`` with two letters swapped, one doubled or one left out (never ``name`` itself)."""
    if len(name) < 3:
        return name + name[-1]
    i = rng.randrange(len(name) - 1)
    swapped = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    options = [swapped, name[:i] + name[i] + name[i:], name[:i] + name[i + 1 :]]
    return next(option for option in rng.sample(options, 3) if option != name)


def other_kind(value: Any, rng: random.Random) -> Any:
    """A value of a TOML kind that no annotation accepting ``value``'s kind accepts too."""
    if isinstance(value, bool):
        return rng.choice([str(value).lower(), int(value) + 2])
    if isinstance(value, int | float):
        return rng.choice([str(value), {"value": value}, True])
    if isinstance(value, str):
        return rng.choice([[value], {"value": value}, False])
    if isinstance(value, list):
        return rng.choice([",".join(map(str, value)), {"value": 1}])
    return rng.choice([7, [1, 2]])  # a table: a string would be a component's type


def required(data: dict[str, Any], path: Path_) -> bool:
    parent = get(data, path[:-1])
    if path == ("val_evaluator",):
        return "val_dataloader" in data
    arguments = REQUIRED_ARGUMENTS.get(parent.get("type", ""), ()) if isinstance(parent, dict) else ()
    return matches(path, REQUIRED) or path[-1] in arguments


def structural(example: Path, data: dict[str, Any], rng: random.Random) -> Iterator[Mutation]:
    """The mutations of the config's data, ``PER_KIND`` of each kind at the most."""
    places = list(walk(data))
    keys = [p for p, _ in places if isinstance(p[-1], str) and not matches(p[:-1], FREE_FORM)]
    tables = [(), *(p for p, v in places if isinstance(v, dict) and not matches(p, FREE_FORM + OPEN))]
    candidates: dict[str, list[Mutation]] = {kind: [] for kind in PER_KIND}

    def add(kind: str, data: dict[str, Any], *where: Path_) -> None:
        candidates[kind].append(Mutation(example, kind, tuple(map(key_path, where)), data))

    for path in (p for p, _ in places if required(data, p)):
        add("deleted", without(data, path), path)
    for path in keys:
        name = misspelt(path[-1], rng)
        if name not in get(data, path[:-1]):
            add("renamed", renamed(data, path, name), (*path[:-1], name), path)
    for path, value in places:
        array = [path[:-1]] if isinstance(path[-1], int) else []  # an item's error may name its array
        add("retyped", with_value(data, path, other_kind(value, rng)), path, *array)
        pattern = next((q for q in OUT_OF_RANGE if matches(path, [q])), None)
        if pattern is not None and not isinstance(value, bool):
            add("out-of-range", with_value(data, path, OUT_OF_RANGE[pattern](value)), path)
        if path[-1] in ("type", "constructor") and isinstance(value, str):
            add("wrong-type-name", with_value(data, path, misspelt(value, rng)), path)
    for path, bad in OUT_OF_RANGE_ADDED.items():
        if len(path) == 1 or isinstance(data.get(path[0]), dict):
            add("out-of-range", with_value(data, path, bad), path)
    for path in tables:
        name = rng.choice([n for n in UNKNOWN_NAMES if n not in get(data, path)])
        add("unknown-key", with_value(data, (*path, name), 1), (*path, name))
    for kind, found in candidates.items():
        yield from rng.sample(found, min(PER_KIND[kind], len(found)))


def statements(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each line holding a statement, comments cut off."""
    lines = [(n, line.split(" #")[0].rstrip()) for n, line in enumerate(text.splitlines(), start=1)]
    return [(n, line) for n, line in lines if line and not line.lstrip().startswith("#")]


def invalid_toml(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return True
    return False


def syntax_errors(example: Path, text: str, rng: random.Random) -> Iterator[Mutation]:
    """A file cut off inside a statement, a closing bracket removed, a key given twice."""
    lines = text.splitlines(keepends=True)
    numbered = statements(text)
    cuts = (
        (number, sum(map(len, lines[: number - 1])) + i)
        for number, line in rng.sample(numbered, len(numbered))
        for i in rng.sample(range(1, len(line)), len(line) - 1)
    )
    number, cut = next((n, cut) for n, cut in cuts if invalid_toml(text[:cut]))
    yield Mutation(example, "truncated", (), text=text[:cut], line=number)
    closers = []  # a closing bracket whose loss the parser sees on its own line
    for number, line in numbered:
        for i, char in enumerate(line):
            header = line.lstrip().startswith("[")
            if char in "]}" and (header or char == "}" or line[i + 1 :].strip()):
                broken = line[:i] + line[i + 1 :]
                lines_after = [*lines[: number - 1], broken + "\n", *lines[number:]]
                if invalid_toml("".join(lines_after)):
                    closers.append((number, "".join(lines_after)))
    number, broken_text = rng.choice(closers)
    yield Mutation(example, "unclosed-bracket", (), text=broken_text, line=number)
    pairs = [(n, line) for n, line in numbered if "=" in line and not line.lstrip().startswith("[")]
    number, line = rng.choice([(n, line) for n, line in pairs if not invalid_toml(line)])
    doubled = "".join([*lines[:number], line + "\n", *lines[number:]])
    yield Mutation(example, "duplicate-key", (), text=doubled, line=number + 1)


def mutations(example: Path) -> list[Mutation]:
    rng = random.Random(f"customrun fuzz {example.name}")  # a string seed: the same on every run
    text = example.read_text(encoding="utf-8")
    return [*structural(example, load_file(example), rng), *syntax_errors(example, text, rng)]


def missing_plugin(example: Path) -> str | None:
    """The first-party plugin an example needs that is not installed here, if any."""
    names = {v for _, v in walk(load_file(example)) if isinstance(v, str)}
    installed = registry.scan_entry_points()
    for (kind, name), distribution in registry.FIRST_PARTY.items():
        if name in names and name not in installed[kind]:
            return distribution
    return None


def cases() -> list[Any]:
    params, seen = [], collections.Counter[str]()
    for example in EXAMPLES:
        plugin = missing_plugin(example)
        marks = [pytest.mark.skip(reason=f"needs {plugin}")] if plugin else []
        for mutation in mutations(example):
            seen[mutation.id] += 1
            case_id = mutation.id if seen[mutation.id] == 1 else f"{mutation.id}-{seen[mutation.id]}"
            params.append(pytest.param(mutation, id=case_id, marks=marks))
    return params


CASES = cases()


class TrainingStarted(Exception):
    """Raised at the first training iteration: the mutated config was valid."""


@pytest.fixture
def write_case(tmp_path: Path) -> Callable[[Mutation], Path]:
    """Writes a case's config into ``tmp_path``, beside the seed examples' bases and modules."""

    def write(mutation: Mutation) -> Path:
        if mutation.example.parent == SEEDS:
            for source in [*SEEDS.glob("_*.toml"), *SEEDS.glob("*.py")]:
                shutil.copy(source, tmp_path)
        path = tmp_path / f"{mutation.kind}-{mutation.example.name}"
        text = mutation.text if mutation.text is not None else tomli_w.dumps(mutation.data)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def stop_at_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid config would train: stop it at its first iteration instead."""
    call_hook = Runner.call_hook

    def guarded(self: Runner, point: str, **kwargs: Any) -> None:
        if point == "before_train_iter":
            raise TrainingStarted("the mutation left a valid config: training started")
        call_hook(self, point, **kwargs)

    monkeypatch.setattr(Runner, "call_hook", guarded)


def check_error_line(result: CliResult, mutation: Mutation, config: Path) -> None:
    """Exit status 2 and one line, ``error: FILE: KEY.PATH: ...`` naming the mutation's key path
    (or a key below it), or for broken TOML the file and the line."""
    output = f"{mutation}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "TrainingStarted" not in result.stderr, output
    assert result.exit_code == 2, output
    assert "Traceback" not in result.stdout + result.stderr, output
    assert len(result.stderr.splitlines()) == 1, output
    line, prefix = result.stderr.splitlines()[0], f"error: {config}: "
    assert line.startswith(prefix), output
    if mutation.text is not None:
        assert re.search(rf"\bline {mutation.line}\b", line), output
        return
    named = line[len(prefix) :].split(": ", 1)[0]
    assert any(named == p or named.startswith((f"{p}.", f"{p}[")) for p in mutation.where), output


def test_there_are_enough_cases_of_every_kind() -> None:
    kinds = [param.values[0].kind for param in CASES]
    assert len(CASES) >= 200
    assert {kind: kinds.count(kind) >= 10 for kind in PER_KIND} == dict.fromkeys(PER_KIND, True)
    assert len({param.id for param in CASES}) == len(CASES)


@pytest.mark.usefixtures("stop_at_training")
@pytest.mark.parametrize("mutation", CASES)
def test_broken_config_is_one_line_naming_file_and_key_path(
    mutation: Mutation, write_case: Callable[[Mutation], Path], customrun_cli: Callable[..., CliResult]
) -> None:
    config = write_case(mutation)
    check_error_line(customrun_cli("train", config), mutation, config)


# A few kinds whose first case also runs as a user runs it, to show that the in-process runs above
# see what a user sees. In parallel: each subprocess spends seconds importing torch.
IN_SUBPROCESS = ("renamed", "retyped", "out-of-range", "truncated")


@pytest.mark.usefixtures("stop_at_training")
def test_a_subprocess_says_what_the_in_process_run_says(
    write_case: Callable[[Mutation], Path], customrun_cli: Callable[..., CliResult]
) -> None:
    unskipped = [param.values[0] for param in CASES if not param.marks]
    mutations = [next(m for m in unskipped if m.kind == kind) for kind in IN_SUBPROCESS]
    configs = [write_case(mutation) for mutation in mutations]
    with ThreadPoolExecutor(len(configs)) as pool:
        in_subprocess = list(
            pool.map(lambda config: customrun_cli("train", config, in_subprocess=True), configs)
        )
    for mutation, config, result in zip(mutations, configs, in_subprocess, strict=True):
        in_process = customrun_cli("train", config)
        assert (result.exit_code, result.stderr) == (in_process.exit_code, in_process.stderr)
        check_error_line(result, mutation, config)
