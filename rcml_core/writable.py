"""Fail at start, naming the folder, when a run could not write where it is told to.

An unwritable `--home`, `--storage` or run folder, a read-only file system, or a full disk would
otherwise surface minutes or hours later as a traceback from deep inside Ray Tune, MLflow's SQL
store or a checkpoint write. `require_writable` creates the folder if needed and writes (and
fsyncs) a small probe file in it: a real write, because permission bits say nothing for root and
nothing about a read-only mount or a full file system.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from rcml_core.errors import RCMLError

PROBE_BYTES = 4096  # one block: a file system with free inodes but no free blocks fails here


class StorageError(RCMLError):
    """A folder a run must write to cannot be written (permissions, read-only file system, full disk)."""


def require_writable(path: Path | str, what: str) -> Path:
    """`path` as a folder this process can write a file into; StorageError naming `what` and the path if not."""
    path = Path(path).expanduser()
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise StorageError(f"{what} {path}: cannot write there ({blocker} is a file, not a folder)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".rcml-write-probe-", dir=path)
        try:
            os.write(fd, b"\0" * PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        cause = exc.strerror or type(exc).__name__
        raise StorageError(f"{what} {path}: cannot write there ({cause}); choose a writable folder "
                           "with free space") from None
    return path
