"""TOML that reads like a hand-written config: top-level values first, then one ``[table]`` per
component, short tables and arrays inline (``betas = [0.9, 0.95]``), arrays of tables as
``[[param_scheduler]]``. Scalars and keys are written by tomli_w, so quoting and floats are its."""

from __future__ import annotations

from typing import Any

INLINE_WIDTH = 100  # an inline table or array longer than this becomes its own section


def dumps(data: dict[str, Any]) -> str:
    """``data`` (TOML-ready: no ``None``) as TOML text."""
    lines: list[str] = []
    _section(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _section(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    inline = {k: v for k, v in table.items() if not _needs_section(v, len(k))}
    for key, value in inline.items():
        lines.append(f"{_key(key)} = {_inline(value)}")
    for key, value in table.items():
        if key in inline:
            continue
        if isinstance(value, dict):
            if any(not _needs_section(v, len(k)) for k, v in value.items()) or not value:
                lines += ["", f"[{'.'.join(_key(p) for p in (*path, key))}]"]
            _section(value, [*path, key], lines)
        else:  # an array of tables
            for item in value:
                lines += ["", f"[[{'.'.join(_key(p) for p in (*path, key))}]]"]
                _section(item, [*path, key], lines)


def _needs_section(value: Any, key_width: int) -> bool:
    """A table, or an array of tables, too long to write inline."""
    tables = isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )
    return tables and _width(value, INLINE_WIDTH - key_width) > INLINE_WIDTH - key_width


def _width(value: Any, limit: int) -> int:
    """``len(_inline(value))``, or some number over ``limit`` once it is known to be over: a table
    nested deep in a long array is not written out once per level above it."""
    if isinstance(value, dict):
        parts, total = [(len(_key(k)) + 3, v) for k, v in value.items()], 4 if value else 2
    elif isinstance(value, list):
        parts, total = [(0, v) for v in value], 2
    else:
        return len(_scalar(value))
    for index, (extra, item) in enumerate(parts):
        total += extra + 2 * (index > 0) + _width(item, limit - total)
        if total > limit:
            break
    return total


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if type(value) is int:  # as tomli_w writes it, without its cost per call
        return str(value)
    import tomli_w

    return tomli_w.dumps({"v": value})[len("v = ") : -1]


def _key(key: str) -> str:
    import tomli_w

    return tomli_w.dumps({key: 0})[: -len(" = 0\n")]
