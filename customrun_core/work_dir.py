"""The work directory: created and checked before anything is built, and locked while a training
writes to it.

A directory that cannot be created or written (a file is in the way, a read-only or virtual
filesystem such as ``/proc``, a name the filesystem refuses) is one line naming it, before the run
builds anything. A training holds an exclusive ``fcntl.flock`` on ``WORK_DIR/.lock`` (rank 0 only
under torchrun) from before it builds its data until it returns; a second training in the same
directory is refused in one line naming the holder's pid. The kernel drops the lock when the
process ends, a crash or SIGKILL included, so a stale lock never blocks a resume. Evaluation
(``customrun test``, ``Runner.val``/``Runner.test``) takes no lock: it only reads the training's
checkpoints, and writes its own files (config, log, metrics) into a new folder
``WORK_DIR/<mode>_<YYYYmmdd_HHMMSS>/`` (:func:`evaluation_dir`), as MMEngine writes each run's
into ``WORK_DIR/<timestamp>/``: nothing a training wrote is touched.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import logging
import os
import socket
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import tomli_w

from customrun_core.config.schema import default_work_dir
from customrun_core.errors import ConfigError
from customrun_core.run_log import log_into

if TYPE_CHECKING:
    from customrun_core.config import RunConfig

try:
    import fcntl
except ImportError:  # Windows: no flock; the work directory is not locked there
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "CONFIG_FILE",
    "LOCK_FILE",
    "config_to_write",
    "evaluation_dir",
    "locked",
    "make_work_dir",
    "run_work_dir",
]

LOCK_FILE = ".lock"
CONFIG_FILE = "config.toml"  # the resolved config a run writes into its work directory

# Lock descriptors this process holds: a forked child (a DataLoader worker) closes its copies at
# once, so that the lock ends with the training process and not with its last worker.
_held: dict[Path, int] = {}


def _close_held_in_child() -> None:
    for fd in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _held.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_in_child)


def _shown(path: Path) -> str:
    """``path`` quoted for one line: escaped by repr, and shortened in the middle when long."""
    text = repr(str(path))
    return text if len(text) <= 100 else f"{text[:45]}...{text[-45:]}"


def _blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` (itself included) that is not a directory."""
    for candidate in (path, *path.parents):
        with contextlib.suppress(OSError):
            if candidate.exists():
                return None if candidate.is_dir() else candidate
    return None


def make_work_dir(work_dir: Path, source: str) -> None:
    """Create ``work_dir`` (and its parents) and check that a file can be written in it.

    Args:
        work_dir: the run's work directory.
        source: the config file, for the message.

    Raises:
        ConfigError: at ``work_dir``, in one line: it or an ancestor is a file, or it cannot be
            created or written (read-only, ``/proc``, a name too long, no permission).
    """
    blocking = _blocking_file(work_dir)
    if blocking is not None:
        what = "is a file" if blocking == work_dir else f"is under {_shown(blocking)}, which is a file"
        raise ConfigError(
            f"expected a directory, but {_shown(work_dir)} {what}: pick another work directory",
            file=source,
            key="work_dir",
        )
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=work_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ConfigError(
            f"cannot create or write the work directory {_shown(work_dir)}: {reason}",
            file=source,
            key="work_dir",
        ) from None


def run_work_dir(cfg: RunConfig) -> Path:
    """The run's work directory: the config's ``work_dir`` (``--work-dir`` sets it), else MMEngine's
    default ``work_dirs/<config file name>``; relative paths are to the working directory."""
    return Path(cfg.work_dir or default_work_dir(cfg.source))


def config_to_write(cfg: RunConfig) -> str:
    """The resolved config as the run writes it to ``WORK_DIR/config.toml`` and saves it in its
    checkpoints, with ``work_dir`` filled in when the config left it to the default: so that
    ``customrun train WORK_DIR/config.toml [--resume]`` from the same directory trains (or resumes)
    in this same work directory, and not in ``work_dirs/config``.

    A run started from ``WORK_DIR/config.toml`` itself may replace it only when that file is one
    customrun wrote: exactly the form resolved configs are written in (no comments, no
    ``extends``), so that nothing but values changes (resuming it, training it again, with or
    without ``--set``).

    Raises:
        ConfigError: at ``work_dir``: writing the resolved config would replace the user's config
            file (its comments and ``extends`` would be lost).
    """
    work_dir = run_work_dir(cfg)
    resolved = tomli_w.dumps(attrs.evolve(cfg, work_dir=str(work_dir)).to_dict())
    _check_not_overwritten(work_dir, cfg.source, resolved)
    return resolved


def _check_not_overwritten(work_dir: Path, source: str, resolved: str) -> None:
    if not source or source.startswith("<"):
        return  # a config given as a mapping has no file
    target = work_dir / CONFIG_FILE
    try:
        same = target.exists() and target.samefile(source)
        text = target.read_text(encoding="utf-8") if same else resolved
    except OSError:
        return  # an unreadable source was refused when it was loaded
    if text != resolved and not _written_by_customrun(text):
        raise ConfigError(
            f"the run writes its resolved config to {_shown(target)}, which is this config file "
            "(its comments, extends and overrides would be lost): pick another work directory",
            file=source,
            key="work_dir",
        )


def _written_by_customrun(text: str) -> bool:
    """Whether ``text`` is in the exact form of a resolved config (what :func:`config_to_write` gives)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return "extends" not in data and tomli_w.dumps(data) == text


def evaluation_dir(cfg: RunConfig, mode: str, rank: int, logger: logging.Logger) -> Path:
    """A new folder ``WORK_DIR/<mode>_<YYYYmmdd_HHMMSS>`` (``_2``, ``_3``, ... after it when taken) for
    the files of an evaluation that trains nothing, and ``logger``'s ``run.log`` moved into it: the
    training files of the work directory stay untouched. Rank 0 names it (its clock), every process
    uses that name.

    Raises:
        ConfigError: at ``work_dir``, in one line: the folder cannot be created or written.
    """
    from customrun_core import distributed

    root = run_work_dir(cfg)
    folder = distributed.broadcast_object(_new_folder(root, mode) if rank == 0 else None)
    make_work_dir(Path(folder), cfg.source)
    log_into(logger, Path(folder))
    return Path(folder)


def _new_folder(root: Path, mode: str) -> str:
    """The first of ``root/<mode>_<stamp>``, ``..._2``, ... that this call creates (a concurrent
    evaluation gets another); a folder it cannot create is left to :func:`make_work_dir`'s message."""
    stamp = time.strftime("%Y%m%d_%H%M%S")
    for n in itertools.count(1):
        folder = root / (f"{mode}_{stamp}" if n == 1 else f"{mode}_{stamp}_{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError:
            pass
        break
    return str(folder)


@contextlib.contextmanager
def locked(work_dir: Path, source: str, rank: int = 0) -> Iterator[None]:
    """Hold the work directory's lock (on rank 0; other ranks and Windows take none) while inside.

    Raises:
        ConfigError: at ``work_dir``, in one line: another training (another process, or another
            runner of this process) holds the lock; the message names its pid when known.
    """
    if rank != 0 or fcntl is None:
        yield
        return
    path = (work_dir / LOCK_FILE).resolve()
    if path in _held:
        raise ConfigError(
            f"this process is already training in {_shown(work_dir)}: one training per work directory",
            file=source,
            key="work_dir",
        )
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        holder = _holder(fd)
        os.close(fd)
        if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise ConfigError(
                f"cannot lock the work directory ({_shown(path)}): {error.strerror}",
                file=source,
                key="work_dir",
            ) from None
        raise ConfigError(
            f"another training{holder} is writing to {_shown(work_dir)} (it holds {LOCK_FILE}): "
            "wait for it to end or pick another work directory",
            file=source,
            key="work_dir",
        ) from None
    _held[path] = fd
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        if _held.pop(path, None) is not None:
            os.close(fd)  # closing the descriptor releases the flock


def _holder(fd: int) -> str:
    """`` (pid N on HOST)`` from the lock file the holder wrote; ``""`` when unreadable."""
    try:
        pid, _, host = os.pread(fd, 200, 0).decode(errors="replace").strip().partition(" ")
    except OSError:
        return ""
    if not pid.isdigit():
        return ""
    return f" (pid {pid} on {host})" if host and host != socket.gethostname() else f" (pid {pid})"
