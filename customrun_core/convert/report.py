"""What convert could not translate: one line per key path."""

from __future__ import annotations

import attrs


@attrs.frozen
class Report:
    """One thing left out (or kept with a caveat) by the conversion.

    ``key`` is the key path in the MMEngine config (``custom_hooks[0].a``), empty for a statement
    that binds no key; ``line`` is 0 when the value has no single line (a merged table).
    """

    file: str
    line: int
    key: str
    message: str

    def render(self) -> str:
        """``old.py:12: visualizer: no customrun twin, left out``."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        return ": ".join(part for part in (where, self.key, self.message) if part)


def key_path(parts: list[str | int]) -> str:
    """``a.b[0]."c.d"`` for ``["a", "b", 0, "c.d"]``: a key path as reports and errors write it."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = f'"{part}"' if "." in part else part
            text += f".{shown}" if text else shown
    return text
