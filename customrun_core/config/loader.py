"""Reading a TOML config: ``extends`` merged below it, then ``--set`` overrides on top."""

from __future__ import annotations

import copy
import os
import stat
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from customrun_core.config.values import MAX_DEPTH, check_values
from customrun_core.errors import ConfigError, describe, first_line

DELETE_KEY = "_delete_"
MAX_FILE_BYTES = 16 * 2**20  # a config is text; this bounds what a wrong path (a disk image) costs
MAX_EXTENDS_DEPTH = 32  # files, each extending the next; MMEngine's _base_ chains are a few deep


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """One TOML file as a dict; a missing, unreadable or not regular file, one over
    ``MAX_FILE_BYTES``, bad syntax or out-of-bounds values (:func:`check_values`) is a one-line
    :class:`ConfigError`."""
    text = _read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # tomllib names no line for a file that stops short (a cut-off file, an unclosed array)
        where = f"(at end of document, line {max(len(text.splitlines()), 1)})"
        raise ConfigError(
            f"invalid TOML: {str(error).replace('(at end of document)', where)}", file=str(path)
        ) from None
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise ConfigError(
            f"invalid TOML: nested deeper than {MAX_DEPTH} tables and arrays", file=str(path)
        ) from None
    except ValueError as error:  # an integer over Python's 4300 digits
        raise ConfigError(f"invalid TOML: {first_line(error)}", file=str(path)) from None
    check_values(data, str(path))
    return data


def _read_text(path: str | os.PathLike[str]) -> str:
    """The file's text; only a regular file is opened (a FIFO would block, /dev/zero never ends)."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError("expected a TOML file, got a directory", file=str(path))
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError("expected a regular TOML file, got a device, FIFO or socket", file=str(path))
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)  # bounded even if the file grew since stat
    except FileNotFoundError:
        raise ConfigError("no such config file", file=str(path)) from None
    except OSError as error:  # permission denied, a name too long, a loop of links
        raise ConfigError(f"cannot read the file: {error.strerror or error}", file=str(path)) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"expected a config file of at most {MAX_FILE_BYTES // 2**20} MiB", file=str(path))
    try:
        return raw.decode()
    except UnicodeDecodeError as error:
        raise ConfigError(f"invalid TOML: not UTF-8 ({error.reason})", file=str(path)) from None


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` merged onto ``base``: tables merge key by key, anything else replaces.

    A table with ``_delete_ = true`` replaces the base table instead (MMEngine's rule).
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not value.get(DELETE_KEY):
            out[key] = merge(out[key], value)
        elif isinstance(value, dict):
            out[key] = {k: copy.deepcopy(v) for k, v in value.items() if k != DELETE_KEY}
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_file(
    path: str | os.PathLike[str],
    _seen: tuple[Path, ...] = (),
    _loaded: dict[Path, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A config file with its ``extends`` bases merged below it, recursively.

    Each file is read once per load (``_loaded``: a diamond of bases would otherwise be read an
    exponential number of times); a chain of bases longer than ``MAX_EXTENDS_DEPTH`` is refused."""
    loaded: dict[Path, dict[str, Any]] = {} if _loaded is None else _loaded
    resolved = Path(path).resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ConfigError(f"extends forms a cycle: {chain}", file=str(path), key="extends")
    if resolved in loaded:
        return loaded[resolved]  # merge() copies what it takes, so this stays as it was
    if len(_seen) >= MAX_EXTENDS_DEPTH:
        raise ConfigError(
            f"expected a chain of at most {MAX_EXTENDS_DEPTH} files, got longer",
            file=str(path),
            key="extends",
        )
    data = read_toml(path)
    bases = data.pop("extends", [])
    if isinstance(bases, str):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, str) for b in bases):
        raise ConfigError("expected a file name or an array of file names", file=str(path), key="extends")
    merged: dict[str, Any] = {}
    for base in bases:
        base_path = resolved.parent / base
        if not base_path.exists():
            raise ConfigError(
                f"no such config file {base!r} (looked for {base_path})", file=str(path), key="extends"
            )
        merged = merge(merged, load_file(base_path, (*_seen, resolved), loaded))
    loaded[resolved] = merge(merged, data)
    return loaded[resolved]


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=VALUE`` as a key path and a value in TOML syntax (a bare word is a string)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not all(part.strip() for part in key.split(".")):
        raise ConfigError(f"expected KEY.PATH=VALUE, got {text!r}", file="--set")
    raw = raw.strip()
    if len(key.split(".")) > MAX_DEPTH:
        raise ConfigError(
            f"expected a key path of at most {MAX_DEPTH} keys", file="--set", key=key[:60] + "..."
        )
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as error:
        if raw[:1] in ("[", "{", '"', "'"):  # meant as an array, a table or a string: say what is wrong
            reason = str(error).split(" (at ")[0]
            raise ConfigError(f"invalid TOML value {raw!r}: {reason}", file="--set", key=key) from None
        value = raw  # a bare word: lets --set work_dir=runs/a through without quotes
    except (RecursionError, ValueError) as error:  # nested thousands deep; an integer of 4300+ digits
        reason = (
            f"nested deeper than {MAX_DEPTH} tables and arrays"
            if isinstance(error, RecursionError)
            else first_line(error)
        )
        raise ConfigError(f"invalid TOML value: {reason}", file="--set", key=key) from None
    check_values(value, "--set", key)
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``data`` with every ``--set`` override applied in order (arrays indexed by number)."""
    return apply_changes(data, (parse_override(text) for text in overrides))


def apply_changes(data: dict[str, Any], changes: Iterable[tuple[list[str], Any]]) -> dict[str, Any]:
    """``data`` with each (key path, value) set in order, as ``--set`` sets it (the command line's
    ``--device``, ``--work-dir``, ``--resume`` come this way, so they are validated alike)."""
    data = copy.deepcopy(data)
    for path, value in changes:
        node: Any = data
        for depth, part in enumerate(path[:-1]):
            where = ".".join(path[: depth + 1])
            if isinstance(node, list):
                node = node[_index(node, part, where)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ConfigError(f"cannot set a key inside {describe(node)}", file="--set", key=where)
        last = path[-1]
        if isinstance(node, list):
            node[_index(node, last, ".".join(path))] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(
                f"cannot set a key inside {describe(node)}", file="--set", key=".".join(path[:-1])
            )
    return data


def _index(items: list[Any], part: str, where: str) -> int:
    if not part.lstrip("-").isdigit() or not -len(items) <= int(part) < len(items):
        raise ConfigError(
            f"expected an index 0..{len(items) - 1} into the array, got {part!r}", file="--set", key=where
        )
    return int(part)
