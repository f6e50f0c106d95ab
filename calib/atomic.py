"""Atomic file writes: readers see the old file or the new one, never half of one; and checks that a folder takes
files before any work is done.

Temporary files and folders carry the writing process's id (``.<name>.pid<pid>.<random>.tmp``): names never clash,
and ``remove_stale_temps`` deletes those of a process that was killed mid-write, so the next run does not trip on
them or let them pile up.

Lives in ``calib`` because it is the project's lowest layer (numpy only); everything that writes files uses it.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

TEMP_PATTERN = re.compile(r"^\..*\.pid(\d+)\.[^.]*\.tmp$")
PROBE_BYTES = 4096  # enough to need a free block: a full disk fails the probe, not only the run


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; done once, before any writer thread exists
    os.umask(mask)
    return mask


UMASK = _read_umask()
"""The process's umask at import: new files get 0o666 & ~UMASK, as a plain open() would give them."""


def temp_prefix(name: str) -> str:
    """The start of this process's temporary names for ``name`` (end them with ``<random>.tmp``)."""
    return f".{name}.pid{os.getpid()}."


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp creates 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files and folders in ``folder`` left by writers whose process no longer runs (killed
    mid-write); return them."""
    stale = [path for path in Path(folder).glob(".*.tmp")
             if (match := TEMP_PATTERN.match(path.name)) and not process_alive(int(match.group(1)))]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


def check_writable_folder(path: str | Path) -> Path:
    """Create the folder ``path`` when missing and prove that files can be written into it; raise an ``OSError``
    naming the path and the OS's reason when not (it is a file, it or a parent is read-only, the disk is full)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "exists and is a file, not a folder", str(path))
    path.mkdir(parents=True, exist_ok=True)
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    _write_probe(path)
    return path


def _write_probe(folder: Path) -> None:
    """Write, sync and delete a small file in ``folder``; an OSError names the folder."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=temp_prefix("write-probe"), suffix=".tmp")
        try:
            os.write(fd, bytes(PROBE_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as error:
        raise type(error)(error.errno, error.strerror, str(folder)) from None
