"""The run's logger: the same plain lines on the console and in ``WORK_DIR/run.log``, and the copy of
a run's log files to another directory (the LoggerHook's ``out_dir``)."""

from __future__ import annotations

import logging
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


class NotFileOnly(logging.Filter):
    """Drops the records logged with ``extra=FILE_ONLY``: the console handler's filter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


def make_logger(work_dir: Path, rank: int) -> logging.Logger:
    """A new logger for one run: stdout on every process, and ``work_dir/run.log`` on rank 0.

    Rank 0 logs from INFO, the other processes only warnings and errors, so that a torchrun console
    is not repeated once per process. The stdout handler is named :data:`STDOUT_HANDLER`: a hook
    may swap it for one of its own while it draws on the terminal (the progress bar does, in
    ``before_run``) and put it back afterwards; it carries a :class:`NotFileOnly` filter, which a
    replacement copies. ``run.log`` is opened at the first line and appended to, so a resumed run
    continues it.
    """
    logger = logging.Logger("customrun")  # one per run, outside logging's global registry
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    stdout = logging.StreamHandler(sys.stdout)
    stdout.set_name(STDOUT_HANDLER)
    stdout.addFilter(NotFileOnly())
    handlers: list[logging.Handler] = [stdout]
    if rank == 0:
        handlers.append(logging.FileHandler(work_dir / RUN_LOG, encoding="utf-8", delay=True))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


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
