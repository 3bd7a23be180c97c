"""The run's logger: plain lines on the console (short) and in ``WORK_DIR/run.log`` (MMEngine's format),
and the copy of a run's log files to another directory (the LoggerHook's ``out_dir``)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

RUN_LOG = "run.log"
STDOUT_HANDLER = "customrun.stdout"  # the console handler's name, for hooks that redirect it
FORMAT = "%(asctime)s - customrun - %(levelname)s - %(message)s"
DATE_FORMAT = "%Y/%m/%d %H:%M:%S"
# ``logger.info(text, extra=FILE_ONLY)``: a line for run.log that the console does not show (the
# hook-order table: useful afterwards, a wall of text before the first progress line).
FILE_ONLY = {"file_only": True}

# The console's lines are shorter than run.log's (MMEngine's file format): the time of day, the level
# unless it is INFO, then the message, so that a training line fits 100 columns.
CONSOLE_DATE_FORMAT = "%H:%M:%S"


def console_text(text: str) -> dict[str, str]:
    """``logger.info(full, extra=console_text(short))``: the console shows ``short``, run.log ``full``
    (a train line without ``data_time``, the plugins without their versions)."""
    return {"console": text}


class ConsoleFormatter(logging.Formatter):
    """The console's format: ``19:43:09 Epoch(train) ...``, ``19:43:09 WARNING - ...``; the message is
    the record's :func:`console_text` where it has one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s", CONSOLE_DATE_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = getattr(record, "console", record.message)
        level = "" if record.levelno == logging.INFO else f"{record.levelname} - "
        return f"{record.asctime} {level}{message}"


class NotFileOnly(logging.Filter):
    """Drops the records logged with ``extra=FILE_ONLY``: the console handler's filter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


def make_logger(work_dir: Path, rank: int) -> logging.Logger:
    """A new logger for one run: stdout on every process (:class:`ConsoleFormatter`), and
    ``work_dir/run.log`` on rank 0 (MMEngine's format, :data:`FORMAT`).

    Rank 0 logs from INFO, the other processes only warnings and errors, so that a torchrun console
    is not repeated once per process. The stdout handler is named :data:`STDOUT_HANDLER`: a hook
    may swap it for one of its own while it draws on the terminal (the progress bar does, in
    ``before_run``) and put it back afterwards; it carries a :class:`NotFileOnly` filter, which a
    replacement copies. ``run.log`` is opened at the first line and appended to, so a resumed run
    continues it.
    """
    logger = logging.Logger("customrun")  # one per run, outside logging's global registry
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    stdout = logging.StreamHandler(sys.stdout)
    stdout.set_name(STDOUT_HANDLER)
    stdout.addFilter(NotFileOnly())
    stdout.setFormatter(ConsoleFormatter())
    logger.addHandler(stdout)
    if rank == 0:
        file = logging.FileHandler(work_dir / RUN_LOG, encoding="utf-8", delay=True)
        file.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
        logger.addHandler(file)
    return logger


def log_into(logger: logging.Logger, work_dir: Path) -> None:
    """From the next line on, ``logger``'s ``run.log`` is ``work_dir/run.log`` (an evaluation's own
    folder); the file it wrote so far keeps its lines."""
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.close()  # reopened (appending) at the next line, under the new name
            handler.baseFilename = os.path.abspath(work_dir / RUN_LOG)


def log_files(work_dir: Path, suffixes: Iterable[str]) -> list[Path]:
    """The files under ``work_dir`` (recursively, sorted) whose names end with one of ``suffixes``,
    relative to it: what MMEngine's LoggerHook copies to its ``out_dir``."""
    ends = tuple(suffixes)
    return sorted(
        p.relative_to(work_dir) for p in work_dir.rglob("*") if p.is_file() and p.name.endswith(ends)
    )


def copy_logs(work_dir: Path, out_dir: Path, files: Iterable[Path], keep_local: bool) -> None:
    """Copy each of ``files`` (relative to ``work_dir``) to the same place under ``out_dir``, replacing
    what is there; with ``keep_local`` false, remove the local file once its copy is made."""
    for name in files:
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work_dir / name, target)
        if not keep_local:
            (work_dir / name).unlink()
