"""Warnings as every command shows them: one line ``warning: ...`` on stderr.

Python's own format (``.../paramwise.py:285: UserWarning: ...`` and the source line) is for the
author of the code, not for the user of a config; ``customrun param-groups``, ``schedule``,
``train`` and every other command show a warning as they show an error (``error: ...``). The group
(:class:`customrun_core.cli.LazyGroup`) sets this up once around every subcommand.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import click

LIBRARY_LOGGER = "customrun_core"  # the core's module loggers (paramwise's frozen parameters) are below it


def warning_line(message: Warning | str, *_args: Any, **_kwargs: Any) -> None:
    """``warning: message`` on stderr; a :func:`warnings.showwarning` in its signature."""
    click.echo(f"warning: {message}", err=True)


class WarningLines(logging.Handler):
    """Log records of the library, at WARNING and above, as :func:`warning_line` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        warning_line(record.getMessage())


@contextlib.contextmanager
def warnings_as_lines() -> Iterator[None]:
    """Inside, every Python warning shown and every WARNING record of the core's loggers is one
    :func:`warning_line`. Which warnings are shown stays Python's choice (``-W``, PYTHONWARNINGS;
    by default each once per place), counted afresh for each command."""
    library = logging.getLogger(LIBRARY_LOGGER)
    handler = WarningLines(logging.WARNING)
    library.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = warning_line
            yield
    finally:
        library.removeHandler(handler)
