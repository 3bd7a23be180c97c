"""Reading a TOML config: ``extends`` merged below it, then ``--set`` overrides on top."""

from __future__ import annotations

import copy
import itertools
import os
import re
import stat
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from customrun_core.config.origins import SET, Origins, join_key, record, touched
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
    return _merge(base, override, {}, "")


def _merge(
    base: Mapping[str, Any], override: Mapping[str, Any], origins: Origins, origin: str, prefix: str = ""
) -> dict[str, Any]:
    """:func:`merge`, noting in ``origins`` that ``origin`` set each key ``override`` sets."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        where = join_key(prefix, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict) and not value.get(DELETE_KEY):
            out[key] = _merge(out[key], value, origins, origin, where)
            touched(origins, where, origin)
        else:
            if isinstance(value, dict):  # a new table, or one replacing the base's: no _delete_ left in it
                out[key] = _merge({}, {k: v for k, v in value.items() if k != DELETE_KEY}, {}, origin)
            else:
                out[key] = copy.deepcopy(value)
            record(origins, where, out[key], origin)
    return out


def load_file(
    path: str | os.PathLike[str],
    _seen: tuple[Path, ...] = (),
    _loaded: dict[Path, tuple[dict[str, Any], Origins]] | None = None,
) -> dict[str, Any]:
    """A config file with its ``extends`` bases merged below it, recursively.

    Each file is read once per load (a diamond of bases would otherwise be read an exponential
    number of times); a chain of bases longer than ``MAX_EXTENDS_DEPTH`` is refused."""
    return load_with_origins(path, _seen, _loaded)[0]


def load_with_origins(
    path: str | os.PathLike[str],
    _seen: tuple[Path, ...] = (),
    _loaded: dict[Path, tuple[dict[str, Any], Origins]] | None = None,
) -> tuple[dict[str, Any], Origins]:
    """:func:`load_file`, and where each key came from: key path -> the file that set it last (a
    base named as the path it was found at, beside the file naming it; see
    :mod:`customrun_core.config.origins`)."""
    loaded: dict[Path, tuple[dict[str, Any], Origins]] = {} if _loaded is None else _loaded
    resolved = Path(path).resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ConfigError(f"extends forms a cycle: {chain}", file=str(path), key="extends")
    if resolved in loaded:
        return loaded[resolved]  # _merge() copies what it takes, so this stays as it was
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
    origins: Origins = {}
    for base in bases:
        base_path = resolved.parent / base
        if not base_path.exists():
            raise ConfigError(
                f"no such config file {base!r} (looked for {base_path})", file=str(path), key="extends"
            )
        base_data, base_origins = load_with_origins(_shown(path, base, base_path), (*_seen, resolved), loaded)
        merged = _merge(merged, base_data, origins, "")
        origins.update(base_origins)  # each key the base sets, as it was set there (it sets all "" marks)
    loaded[resolved] = (_merge(merged, data, origins, str(path)), origins)
    return loaded[resolved]


def _shown(path: str | os.PathLike[str], base: str, found: Path) -> str:
    """How a base file is named in messages: beside ``path`` as the user named ``path``
    (``examples/base.toml``), or where it was found when that is another file (a linked config)."""
    beside = os.path.normpath(os.path.join(os.path.dirname(os.fspath(path)), base))
    try:
        return beside if os.path.samefile(beside, found) else str(found)
    except OSError:
        return str(found)


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """``a.b.c=VALUE`` as a key path and a value in TOML syntax (a bare word is a string).

    The key path is written as errors print it: names joined by dots, an element of an array as
    ``[N]`` (``param_scheduler[1].milestones``; ``[-1]`` is the last element). ``[N]`` is an int in
    the path; the older ``param_scheduler.1.milestones`` still works (``"1"`` indexes an array)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not all(part.strip() for part in key.split(".")):
        raise ConfigError(f"expected KEY.PATH=VALUE, got {text!r}", file=SET)
    raw = raw.strip()
    if len(key.split(".")) > MAX_DEPTH or key.count("[") > MAX_DEPTH:
        raise ConfigError(f"expected a key path of at most {MAX_DEPTH} keys", file=SET, key=key[:60] + "...")
    path = _key_path(key, text)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError as error:
        if raw[:1] in ("[", "{", '"', "'"):  # meant as an array, a table or a string: say what is wrong
            reason = str(error).split(" (at ")[0]
            raise ConfigError(f"invalid TOML value {raw!r}: {reason}", file=SET, key=key) from None
        value = raw  # a bare word: lets --set work_dir=runs/a through without quotes
    except (RecursionError, ValueError) as error:  # nested thousands deep; an integer of 4300+ digits
        reason = (
            f"nested deeper than {MAX_DEPTH} tables and arrays"
            if isinstance(error, RecursionError)
            else first_line(error)
        )
        raise ConfigError(f"invalid TOML value: {reason}", file=SET, key=key) from None
    check_values(value, SET, key)
    return path, value


_SEGMENT = re.compile(r"\s*([^.\[\]]*?)\s*((?:\[\s*-?\d+\s*\])*)\s*")


def _key_path(key: str, text: str) -> list[str | int]:
    """``param_scheduler[1].milestones`` as ``["param_scheduler", 1, "milestones"]``."""
    path: list[str | int] = []
    for segment in key.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None or not match.group(1):
            raise ConfigError(
                f"expected KEY.PATH=VALUE, keys joined by dots and array elements as [N]"
                f" (param_scheduler[1].milestones), got {text!r}",
                file=SET,
            )
        path.append(match.group(1))
        path.extend(int(index) for index in re.findall(r"-?\d+", match.group(2)))
    return path


def apply_overrides(
    data: dict[str, Any], overrides: Iterable[str], origins: Origins | None = None
) -> dict[str, Any]:
    """``data`` with every ``--set`` override applied in order (arrays indexed by number); each key
    set is noted in ``origins`` as ``--set``'s."""
    return apply_changes(data, (parse_override(text) for text in overrides), origins)


def apply_changes(
    data: dict[str, Any],
    changes: Iterable[tuple[Sequence[str | int], Any]],
    origins: Origins | None = None,
    origin: str = SET,
) -> dict[str, Any]:
    """``data`` with each (key path, value) set in order, as ``--set`` sets it (the command line's
    ``--device``, ``--work-dir``, ``--resume`` come this way, so they are validated alike).

    A str in a path is a table's key (or, all digits, an index into an array: the older form), an
    int an index into an array, negative counting from its end; an element is replaced, never
    added. Each key set is noted in ``origins`` (when given) as ``origin``'s."""
    data = copy.deepcopy(data)
    for path, value in changes:
        node: Any = data
        where = ""
        for part, following in itertools.pairwise(path):
            slot, where = _slot(node, part, where)
            if isinstance(node, dict) and slot not in node and isinstance(following, int):
                raise ConfigError(f"expected an array to index with [{following}], got no such key", file=SET,
                                  key=where)  # fmt: skip
            node = node[slot] if isinstance(node, list) else node.setdefault(slot, {})
        slot, where = _slot(node, path[-1], where)
        node[slot] = value
        if origins is not None:
            record(origins, where, value, origin)
    return data


def _slot(node: Any, part: str | int, where: str) -> tuple[Any, str]:
    """The index or key ``part`` names in ``node`` (at ``where``), and the key path to it."""
    if isinstance(node, list):
        index = _index(node, part, where)
        return index, join_key(where, index)
    if isinstance(part, int):
        raise ConfigError(
            f"expected an array to index with [{part}], got {describe(node)}", file=SET, key=where
        )
    if not isinstance(node, dict):
        raise ConfigError(f"cannot set a key inside {describe(node)}", file=SET, key=where)
    return part, join_key(where, part)


def _index(items: list[Any], part: str | int, where: str) -> int:
    """``part`` as an index into ``items``, from ``0`` or (negative) from the end."""
    size = len(items)
    if isinstance(part, str) and not part.lstrip("-").isdigit():
        raise ConfigError(f"expected an index into the array, got {part!r}", file=SET, key=where)
    index = int(part)
    if not -size <= index < size:
        valid = f"an index 0..{size - 1} (or -{size}..-1 from the end)" if size else "no index"
        elements = f"{size} element{'s' if size != 1 else ''}"
        raise ConfigError(
            f"expected {valid}: the array has {elements}, got {index}", file=SET, key=f"{where}[{index}]"
        )
    return index % size
