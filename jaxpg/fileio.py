"""Atomic file writes: the one helper every writer of results uses.

A reader never sees a half-written file: the text goes to a temporary file in the
same directory, is flushed to disk, and is renamed over the target (``os.replace``
is atomic on POSIX). The file gets the permissions a plain ``open`` would give it
(``0o666`` less the umask), not ``mkstemp``'s ``0o600``.

Imports nothing from jaxpg.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write", "atomic_write_json", "umask_mode"]


def umask_mode(mode: int = 0o666) -> int:
    """``mode`` less the process's umask (what ``open(..., "w")`` would create)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Writes ``data`` (text or bytes) to ``path`` atomically; returns the path.

    The parent directory must exist. On any error (including KeyboardInterrupt) the
    temporary file is removed and ``path`` keeps its old content.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """``atomic_write`` of ``obj`` as indented JSON with a final newline."""
    return atomic_write(path, json.dumps(obj, indent=2) + "\n")
