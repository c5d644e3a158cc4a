"""Fail at start, naming the folder, when a run could not write where it is told to.

An unwritable `--home`, `--storage` or run folder, a read-only file system, or a full disk would
otherwise surface minutes or hours later as a traceback from deep inside Ray Tune, MLflow's SQL
store or a checkpoint write. `require_writable` creates the folder if needed and writes (and
fsyncs) a small probe file in it: a real write, because permission bits say nothing for root and
nothing about a read-only mount or a full file system.

A disk that fills later is met by whichever writer comes first (safetensors, torch.save, a tokenizer's
Rust writer, pyarrow, a plain write), each with its own exception type: `write_refusal` finds the file
system's refusal in any of them and `naming_refusals` turns it into one StorageError naming what was
being written (a run folder, a dataset, the image cache).
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rcml_core.errors import RCMLError

PROBE_BYTES = 4096  # one block: a file system with free inodes but no free blocks fails here
# the errors that mean "the destination cannot take this write", whoever writes
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Persist a folder's entries (renames, new files); a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


def write_refusal(exc: BaseException, errnos: frozenset[int] | None = None) -> str | None:
    """What the file system said when a write failed ("No space left on device"), or None when `exc` is no such
    refusal (then it is not ours to rename). With `errnos`, only those errors count (a missing input is not one).

    The writers do not all raise OSError: on a full disk torch.save raises RuntimeError ("unexpected pos ...",
    with the OSError of the Python file it wrote to as its context), safetensors a SafetensorError ending in
    "(os error 28)".
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            if errnos is None or seen.errno in errnos:
                return seen.strerror or str(seen)
            return None
        seen = seen.__cause__ or seen.__context__
    code = re.search(r"\(os error (\d+)\)", str(exc))
    if code and (errnos is None or int(code.group(1)) in errnos):
        return os.strerror(int(code.group(1)))
    return None


@contextmanager
def naming_refusals(what: str, outcome: str = "") -> Iterator[None]:
    """Turn the file system's refusal of a write in the block (a full disk, a quota, a read-only mount) into one
    StorageError: "cannot write <what>: <refusal>; <outcome>". Other errors pass unchanged."""
    try:
        yield
    except RCMLError:  # already says what could not be written (a checkpoint, a nested folder)
        raise
    except Exception as exc:
        refusal = write_refusal(exc, STORAGE_ERRNOS)
        if refusal is None:
            raise
        raise StorageError(f"cannot write {what}: {refusal}" + (f"; {outcome}" if outcome else "")) from exc
