"""Checkpoints: written atomically, read back with ``torch.load(weights_only=True)``.

A checkpoint is one file (``epoch_3.pt``), or for a model sharded with FSDP a directory
(``epoch_3.dcp``) written by every process through ``torch.distributed.checkpoint``: the
model's and the optimizer's tensors as DCP shards, everything else in ``extra.pt`` (rank 0). Such
a directory loads on any number of processes, also on one without a process group.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from customrun_core.errors import ConfigError

LAST_CHECKPOINT = "last_checkpoint"
SHARDED_SUFFIX = ".dcp"
EXTRA = "extra.pt"  # in a sharded checkpoint: all but the model's and the optimizer's tensors


def save_atomic(obj: Any, path: Path) -> None:
    """Write ``obj`` to ``path`` so that a reader sees the old file or the whole new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, lambda f: torch.save(obj, f))


def write_text_atomic(path: Path, text: str) -> None:
    """``path`` replaced by ``text`` the same way (``last_checkpoint``, the run's config)."""
    _replace(path, lambda f: f.write(text.encode("utf-8")))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """``path`` replaced by ``data`` the same way (a published checkpoint, hashed before writing)."""
    _replace(path, lambda f: f.write(data))


def link_atomic(source: Path, path: Path) -> None:
    """``path`` replaced by the file ``source`` as one step: a hard link when the file system
    allows it (no second write of a large file), else a copy; a reader sees the old or the new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.link.tmp")  # remove_unfinished's pattern
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # no hard links here (another device, some network file systems)
        with open(source, "rb") as original:
            _replace(path, lambda f: shutil.copyfileobj(original, f))
        return
    os.replace(tmp, path)


def _replace(path: Path, write: Callable[[Any], Any]) -> None:
    """``write(binary file)`` into a temporary file beside ``path``, flushed and fsynced, then
    renamed over ``path``; with the user's umask (mkstemp's 0600 would ignore it)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):  # POSIX
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # reading it means setting it: put it straight back
    os.umask(mask)
    return mask


def load(path: str | os.PathLike[str], key: str = "checkpoint") -> dict[str, Any]:
    """A checkpoint's dict; a missing, truncated or foreign file is a one-line :class:`ConfigError`.

    For a sharded checkpoint (a directory) this is ``extra.pt``: ``state_dict`` and the
    optimizer's ``state`` are left for :func:`customrun_core.sharded_checkpoint.load`, and
    ``"sharded"`` holds the path.
    """
    if Path(path).is_dir():
        checkpoint = _read(Path(path) / EXTRA, key)
        checkpoint["sharded"] = str(path)
        return checkpoint
    checkpoint = _read(Path(path), key)
    if "state_dict" not in checkpoint:
        raise ConfigError(f"{path} is not a customrun checkpoint (no 'state_dict')", key=key)
    return checkpoint


def _read(path: Path, key: str) -> dict[str, Any]:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"no such checkpoint file: {path}", key=key) from None
    except Exception as error:  # torch raises many kinds for a damaged file
        raise ConfigError(f"cannot read checkpoint {path}: {_why_unreadable(error)}", key=key) from None
    if not isinstance(checkpoint, dict):
        raise ConfigError(f"{path} is not a customrun checkpoint (not a dict)", key=key)
    return checkpoint


def _why_unreadable(error: Exception) -> str:
    """What to tell a user about a file ``torch.load(weights_only=True)`` refused."""
    if "Weights only load failed" in str(error) and "Unsupported global" in str(error):
        return "it holds Python objects other than tensors and plain data (customrun loads weights_only)"
    return f"truncated, damaged or not a torch file ({type(error).__name__})"


def latest(work_dir: Path) -> Path | None:
    """The checkpoint ``work_dir/last_checkpoint`` names, if any."""
    marker = work_dir / LAST_CHECKPOINT
    if not marker.is_file():
        return None
    path = Path(marker.read_text(encoding="utf-8").strip())
    return path if path.is_absolute() else work_dir / path


def remove_unfinished(work_dir: Path) -> list[Path]:
    """Delete what saves killed midway left in ``work_dir`` (``.NAME.tmp`` files and sharded
    directories); returns their paths. Only for a work directory no other run is writing to."""
    removed = []
    for path in work_dir.glob(".*.tmp"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def resume_candidates(work_dir: Path) -> list[Path]:
    """Checkpoints to resume from, best first: the one ``last_checkpoint`` names, then the
    other ``epoch_*`` / ``iter_*`` checkpoints of ``work_dir``, newest first. Unfinished writes
    (``.NAME.tmp``) are not among them."""
    named = latest(work_dir)
    others = [
        path
        for pattern in ("epoch_*", "iter_*")
        for path in work_dir.glob(pattern)
        if path.suffix in (".pt", SHARDED_SUFFIX) and path != named
    ]
    others.sort(key=lambda path: path.stat().st_mtime_ns, reverse=True)
    return ([named] if named is not None else []) + others


def remove(path: str | os.PathLike[str]) -> None:
    """Delete a checkpoint: a file, or a sharded checkpoint's directory (gone already is fine)."""
    if Path(path).is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        Path(path).unlink(missing_ok=True)
