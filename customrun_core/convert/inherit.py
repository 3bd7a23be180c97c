"""Reading an MMEngine config file with its ``_base_`` files merged below it, as MMEngine does.

MMEngine's rules: ``_base_`` is a path or a list of paths relative to the file; the bases are
read in order and must not set the same key twice; the file's own values are merged on top,
dicts key by key (recursively), anything else replacing; a dict with ``_delete_=True`` replaces
the base's dict instead of merging into it; lists replace. ``_base_.key`` and
``{{_base_.key}}`` read the merged bases' values.
"""

from __future__ import annotations

import ast
import copy
import os
from pathlib import Path
from typing import Any

import attrs

from customrun_core.config.loader import DELETE_KEY
from customrun_core.convert import bounds
from customrun_core.convert.evaluate import Evaluator, Untranslatable
from customrun_core.convert.report import Report
from customrun_core.convert.statements import StatementRunner, is_base_assignment
from customrun_core.errors import ConfigError


@attrs.define
class PythonConfig:
    """A config file's values after its bases are merged in.

    ``origins`` gives, for each top-level key, the file and line that last set it; ``helpers``
    are names other statements read (``optimizer`` in ``optim_wrapper = dict(optimizer=optimizer)``).
    """

    file: str
    values: dict[str, Any] = attrs.field(factory=dict)
    origins: dict[str, tuple[str, int]] = attrs.field(factory=dict)
    helpers: set[str] = attrs.field(factory=set)
    reports: list[Report] = attrs.field(factory=list)


def read_config(
    path: str | os.PathLike[str], _chain: tuple[Path, ...] = (), _read: dict[Path, PythonConfig] | None = None
) -> PythonConfig:
    """The file at ``path`` with its ``_base_`` files merged below it; a base reached twice (a
    diamond of ``_base_``) is read once (``_read``), so that reads cannot grow exponentially.

    Raises:
        ConfigError: the file is missing or not Python, a ``_base_`` file is missing, ``_base_``
            forms a cycle, two bases set one key, or a dict in the file meets a non-dict in a base.
    """
    file = os.fspath(path)
    read = {} if _read is None else _read
    if Path(file).resolve() in read:  # nothing changes a PythonConfig once read
        return read[Path(file).resolve()]
    tree = parse_file(file)
    base_node = next((s for s in tree.body if is_base_assignment(s)), None)
    base = _read_bases(file, base_node, _chain, read) if base_node is not None else None
    evaluator = Evaluator(file, base.values if base is not None else None)
    own = StatementRunner(evaluator).run(tree)
    refuse_over_bounds(evaluator)
    if base is None:
        base = PythonConfig(file)
    values = dict(base.values)
    origins = dict(base.origins)
    for key, value in own.values.items():
        values[key] = merge_value(values.get(key, _MISSING), value, key, f"{file}:{own.lines.get(key, 0)}")
        origins[key] = (file, own.lines.get(key, 0))
    read[Path(file).resolve()] = PythonConfig(
        file, values, origins, base.helpers | own.read, base.reports + own.reports
    )
    return read[Path(file).resolve()]


def refuse_over_bounds(evaluator: Evaluator) -> None:
    """Raises for the first value of ``evaluator`` over a bound of :mod:`.bounds`.

    Raises:
        ConfigError: ``FILE:LINE: what was refused (the bound is ...)``.
    """
    if evaluator.refused:
        refused, bound, key = evaluator.refused[0]
        message = f"refused {refused.reason}" + (f" (the bound is {bound})" if bound else "")
        raise ConfigError(message, file=f"{refused.file}:{refused.line}", key=key or None)


def parse_file(file: str) -> ast.Module:
    """The file's syntax tree; a missing file, one that is not a regular file or is over
    :data:`~.bounds.MAX_FILE_BYTES`, bad encoding, bad syntax or nesting over
    :data:`~.bounds.MAX_DEPTH` is one ConfigError."""
    path = Path(file)
    if path.is_dir():
        raise ConfigError("expected a Python config file, got a directory", file=file)
    if path.exists() and not path.is_file():  # a FIFO or a device would hang or never end
        raise ConfigError(
            "expected a Python config file, got something that is not a regular file", file=file
        )
    try:
        with path.open("rb") as stream:
            data = stream.read(bounds.MAX_FILE_BYTES + 1)
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("no such config file", file=file) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"not UTF-8 ({error.reason})", file=file) from None
    if len(data) > bounds.MAX_FILE_BYTES:
        raise ConfigError(
            f"refused a file bigger than {bounds.MAX_FILE_BYTES:,} bytes (the bound)", file=file
        )
    try:
        tree = ast.parse(text, filename=file)
    except SyntaxError as error:
        raise ConfigError(f"invalid Python: {error.msg}", file=f"{file}:{error.lineno or 0}") from None
    except (RecursionError, MemoryError):  # Python's parser gives up on nesting thousands deep
        message = f"Python's parser refused it (the bound is {bounds.MAX_DEPTH} levels)"
        raise ConfigError(f"nested too deeply to convert: {message}", file=file) from None
    line = bounds.deep_line(tree)
    if line is not None:
        message = f"refused an expression more than {bounds.MAX_DEPTH} levels deep (the bound)"
        raise ConfigError(f"nested too deeply to convert: {message}", file=f"{file}:{line}")
    return tree


_MISSING: Any = object()


def _read_bases(
    file: str, node: ast.stmt, chain: tuple[Path, ...], read: dict[Path, PythonConfig]
) -> PythonConfig:
    """The bases named by ``_base_ = ...`` (``node``), merged in order."""
    where = f"{file}:{node.lineno}"
    assert isinstance(node, ast.Assign)
    evaluator = Evaluator(file)
    names = evaluator.evaluate(node.value)
    refuse_over_bounds(evaluator)
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        shown = names.reason if isinstance(names, Untranslatable) else repr(names)
        raise ConfigError(
            f"expected a file name or a list of file names, got {shown}", file=where, key="_base_"
        )
    here = Path(file).resolve()
    merged = PythonConfig(file)
    owners: dict[str, str] = {}
    for name in names:
        _check_base_file(name, here, where, (*chain, here))
        # shown as the user would write it: beside the file as the user named it
        base = read_config(os.path.normpath(Path(file).parent / name), (*chain, here), read)
        for key in base.values:
            if key in owners:
                raise ConfigError(
                    f"{key} is set by two _base_ files, {owners[key]} and {name} (MMEngine refuses a key"
                    " set by more than one base)",
                    file=where,
                    key="_base_",
                )
            owners[key] = name
        merged.values.update(base.values)
        merged.origins.update(base.origins)
        merged.helpers |= base.helpers
        merged.reports += base.reports
    return merged


def _check_base_file(name: str, here: Path, where: str, chain: tuple[Path, ...]) -> None:
    """The base file ``name`` names (relative to the file at ``here``), checked to exist and to
    close no cycle."""
    if "::" in name:
        raise ConfigError(
            f"{name!r} names a config inside an installed package, which convert does not read: copy the"
            " file and name it by its path",
            file=where,
            key="_base_",
        )
    path = (here.parent / name).resolve()
    if path.suffix != ".py":
        raise ConfigError(f"{name!r}: only Python (.py) bases can be converted", file=where, key="_base_")
    if not path.is_file():
        raise ConfigError(f"no such _base_ file {name!r} (looked for {path})", file=where, key="_base_")
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain[chain.index(path) :], path))
        raise ConfigError(f"_base_ forms a cycle: {cycle}", file=where, key="_base_")


def merge_value(base: Any, value: Any, key: str, where: str) -> Any:
    """``value`` merged onto ``base`` (``_MISSING`` when the base has no such key): MMEngine's
    rule, with ``_delete_`` removed from the result. Both are left unchanged."""
    if not isinstance(value, dict):
        return copy.deepcopy(value)
    if base is _MISSING or value.get(DELETE_KEY):
        return strip_delete(value)
    if isinstance(base, Untranslatable):
        return attrs.evolve(base, reason=f"merged onto a base value convert cannot read ({base.reason})")
    if not isinstance(base, dict):
        raise ConfigError(
            f"a dict here cannot merge into the base's {type(base).__name__} (MMEngine refuses this too):"
            f" set {DELETE_KEY}=True to replace it",
            file=where,
            key=key,
        )
    out = copy.deepcopy(base)
    for name, item in value.items():
        if name != DELETE_KEY:
            out[name] = merge_value(out.get(name, _MISSING), item, f"{key}.{name}", where)
    return out


def strip_delete(value: Any) -> Any:
    """A deep copy of ``value`` without ``_delete_`` keys: once bases are merged they mean nothing."""
    if isinstance(value, dict):
        return {k: strip_delete(v) for k, v in value.items() if k != DELETE_KEY}
    if isinstance(value, list):
        return [strip_delete(v) for v in value]
    return copy.deepcopy(value)
