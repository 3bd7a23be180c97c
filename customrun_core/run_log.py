"""The run's logger: the same plain lines on the console and in ``WORK_DIR/run.log``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

RUN_LOG = "run.log"
STDOUT_HANDLER = "customrun.stdout"  # the console handler's name, for hooks that redirect it
FORMAT = "%(asctime)s - customrun - %(levelname)s - %(message)s"
DATE_FORMAT = "%Y/%m/%d %H:%M:%S"


def make_logger(work_dir: Path, rank: int) -> logging.Logger:
    """A new logger for one run: stdout on every process, and ``work_dir/run.log`` on rank 0.

    Rank 0 logs from INFO, the other processes only warnings and errors, so that a torchrun console
    is not repeated once per process. The stdout handler is named :data:`STDOUT_HANDLER`: a hook
    may swap it for one of its own while it draws on the terminal (the progress bar does, in
    ``before_run``) and put it back afterwards. ``run.log`` is opened at the first line and
    appended to, so a resumed run continues it.
    """
    logger = logging.Logger("customrun")  # one per run, outside logging's global registry
    logger.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    stdout = logging.StreamHandler(sys.stdout)
    stdout.set_name(STDOUT_HANDLER)
    handlers: list[logging.Handler] = [stdout]
    if rank == 0:
        handlers.append(logging.FileHandler(work_dir / RUN_LOG, encoding="utf-8", delay=True))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger
