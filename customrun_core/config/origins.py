"""Where each key of a resolved config came from: the config file, a base file it ``extends``, or
``--set``.

The loader keeps a side map, key path (as errors print it: ``optim_wrapper.optimizer.momentum``,
``param_scheduler[1].milestones``) -> the file that set it last (``"--set"`` for an override). A
table's own entry names the last file that set anything inside it. The resolved config itself is
not changed: the map is only read when an error line is built (:func:`attributing`), so that an
error caused by a ``--set`` value names ``--set``, and one caused by a key merged in from a base
file names that file and says how ``_delete_ = true`` replaces the table instead.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from customrun_core.errors import ConfigError

if TYPE_CHECKING:
    from customrun_core.config.schema import RunConfig

__all__ = ["SET", "Origins", "attributed", "attributing", "join_key", "origin_of", "record"]

SET = "--set"
Origins = dict[str, str]
_P = ParamSpec("_P")
_R = TypeVar("_R")
# the places a key path can be cut at: before each ".name" and each "[index]"
_CUTS = re.compile(r"(?=[.\[])")
_SAID = "_origin_said"  # set on an error explain() made


def join_key(prefix: str, part: str | int) -> str:
    """``prefix`` and one more step as errors print key paths: ``a.b`` for a key, ``a[1]`` for an index."""
    if isinstance(part, int):
        return f"{prefix}[{part}]"
    return f"{prefix}.{part}" if prefix else part


def record(origins: Origins, key: str, value: Any, origin: str) -> None:
    """Note that ``origin`` set ``key`` to ``value`` (replacing what was there): every key path in
    and below ``value`` is now ``origin``'s, and the tables above ``key`` were last changed by it."""
    if key in origins:  # something was there: what it held below is gone
        below = (key + ".", key + "[")
        for stale in [k for k in origins if k.startswith(below)]:
            del origins[stale]
    pending = [(key, value)]
    while pending:  # iterative: values may nest as deep as the loader allows
        where, item = pending.pop()
        origins[where] = origin
        if isinstance(item, dict):
            pending.extend((join_key(where, k), v) for k, v in item.items())
        elif isinstance(item, list):  # elements that are values are the array's (cheaper for long arrays)
            pending.extend((join_key(where, i), v) for i, v in enumerate(item) if isinstance(v, dict | list))
    touched(origins, key, origin)


def touched(origins: Origins, key: str, origin: str) -> None:
    """Mark ``key`` and the tables and arrays above it as last changed by ``origin``."""
    for cut in (key, *_ancestors(key)):
        origins[cut] = origin


def origin_of(origins: Mapping[str, str], key: str) -> str | None:
    """The file (or ``--set``) that set ``key``, or the nearest table above it; None when unknown."""
    for cut in (key, *_ancestors(key)):
        if cut in origins:
            return origins[cut]
    return None


def _ancestors(key: str) -> list[str]:
    """``a.b[1].c`` -> ``["a.b[1]", "a.b", "a"]``."""
    starts = [m.start() for m in _CUTS.finditer(key) if m.start() > 0]
    return [key[:i] for i in reversed(starts)]


def explain(error: ConfigError, source: str, origins: Mapping[str, str]) -> ConfigError:
    """``error`` (located in ``source``) as it reads once the origin of its key is known: at
    ``--set`` when the value came from there; with the base file named, and how to replace the
    table instead of merging into it, when the key was merged in from a base file."""
    if error.file != source or not error.key or getattr(error, _SAID, False):
        return error
    origin = origin_of(origins, error.key)
    parents = _ancestors(error.key)
    table = parents[0] if parents else None
    changer = origin_of(origins, table) if table else None
    if origin is None or (origin == source and changer in (None, origin)):
        return error
    message, file = error.message, error.file
    if origin == SET:
        file = SET
    elif table is not None and changer not in (None, origin):
        name = error.key[len(table) :].lstrip(".")
        if changer == SET:
            how = f"--set '{table}={{...}}' sets the whole table instead"
            message += f"; {name} is from {origin}, kept when --set changed other keys of {table}: {how}"
        else:
            how = f"_delete_ = true in {changer}'s {table} replaces the table instead of merging into it"
            message += f"; {name} is from {origin}, merged below {changer}'s {table}: {how}"
    else:
        message += f"; {error.key.rsplit('.', 1)[-1]} is set in {origin}"
    explained = type(error)(message, file=file, key=error.key, suggestions=error.suggestions)
    setattr(explained, _SAID, True)  # an outer scope (Runner.from_config around assembly.check) adds nothing
    return explained


@contextlib.contextmanager
def attributing(source: str, origins: Mapping[str, str]) -> Iterator[None]:
    """A :class:`ConfigError` raised inside, located in ``source``, names where its key came from
    (see :func:`explain`)."""
    try:
        yield
    except ConfigError as error:
        explained = explain(error, source, origins)
        if explained is error:
            raise
        raise explained from error


def attributed(
    function: Callable[Concatenate[RunConfig, _P], _R],
) -> Callable[Concatenate[RunConfig, _P], _R]:
    """``function(cfg, ...)`` with its errors explained by ``cfg.origins`` (see :func:`attributing`);
    a generator's, while it is iterated."""
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(cfg: RunConfig, /, *args: _P.args, **kwargs: _P.kwargs) -> Any:
            with attributing(cfg.source, cfg.origins):
                yield from function(cfg, *args, **kwargs)

        return generator

    @functools.wraps(function)
    def wrapper(cfg: RunConfig, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with attributing(cfg.source, cfg.origins):
            return function(cfg, *args, **kwargs)

    return wrapper
