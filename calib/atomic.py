"""Atomic file writes: readers see the old file or the new one, never half of one.

Lives in ``calib`` because it is the project's lowest layer (numpy only); everything that writes files uses it.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; done once, before any writer thread exists
    os.umask(mask)
    return mask


UMASK = _read_umask()
"""The process's umask at import: new files get 0o666 & ~UMASK, as a plain open() would give them."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~UMASK)  # mkstemp creates 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
