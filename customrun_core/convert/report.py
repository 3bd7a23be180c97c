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
