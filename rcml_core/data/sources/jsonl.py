"""Streaming readers for the raw source files: JSON Lines (plain or gzipped) and their lines.

The real sources ship one JSON object per line: Amazon Reviews 2023 as `*.jsonl` /
`*.jsonl.gz`, UCSD Goodreads as `*.json` / `*.json.gz`. Compression is detected from the
file's first bytes (the gzip magic), not its name, so a mis-named file still reads.

Bad input policy (rcml_core.data.format.skips.SkipLog):
- a line that is not valid UTF-8 JSON, or valid JSON that is not an object: reason
  "malformed_json", located as "file:line";
- an object without a required field (absent or null): reason "missing_field", naming it;
- a gzip stream that ends early or is corrupt: a `DataError` naming the file and the last
  line read. It cannot be skipped: the rest of the file is unreadable.
Blank lines (a trailing newline, an empty last line) are not records and are ignored.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from rcml_core.data.format.skips import SkipLog
from rcml_core.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
_PROGRESS_EVERY = 4096  # lines between progress-bar updates (a tqdm update per line costs ~1 us)


@contextmanager
def open_raw(path: Path) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """Open a raw file for binary line reading, transparently un-gzipping it.

    Yields (stream, raw): `stream` gives the decompressed bytes, `raw` is the file on disk,
    whose `tell()` says how many bytes of it have been consumed (for progress bars).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        with gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else nullcontext(raw) as stream:
            yield stream, raw


def iter_lines(path: Path, *, progress: bool = False) -> Iterator[tuple[int, bytes]]:
    """Yield (line_no, line) for every line of a plain or gzipped file; line_no is 1-based.

    Lines are bytes without the trailing newline. A truncated or corrupt gzip stream raises
    `DataError` naming the file and the line where it broke off.
    """
    path = Path(path)
    line_no = 0
    with open_raw(path) as (stream, raw):
        total = path.stat().st_size
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"reading {path.name}", disable=not progress,
                   leave=False)
        try:
            while True:
                try:
                    line = stream.readline()
                except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                    raise DataError(
                        f"{path}: the gzip stream is truncated or corrupt after line {line_no} ({exc}); "
                        "re-download or re-compress the file"
                    ) from None
                if not line:
                    break
                line_no += 1
                if line_no % _PROGRESS_EVERY == 0:
                    bar.update(raw.tell() - bar.n)
                yield line_no, line.rstrip(b"\r\n")
            bar.update(total - bar.n)
        finally:
            bar.close()


def iter_json_lines(
    path: Path,
    skips: SkipLog,
    required: Sequence[str] = (),
    *,
    nonblank: Sequence[str] = (),
    progress: bool = False,
) -> Iterator[tuple[int, dict]]:
    """Yield (line_no, record) for each JSON object of a JSON Lines file (plain or gzipped).

    required: fields that must be present and not null; a record lacking one is reported to
    `skips` as "missing_field" and not yielded. nonblank: required fields (ids) whose value
    must also not be an empty or all-space string, likewise "missing_field". Malformed lines are reported as
    "malformed_json". Both are located as "<file name>:<line>". A file holding one JSON
    array instead of one object per line is refused with a `DataError`.
    """
    path = Path(path)
    name = path.name
    first = True
    for line_no, line in iter_lines(path, progress=progress):
        if not line.strip():
            continue
        if first:
            first = False
            if line.lstrip().startswith(b"["):
                raise DataError(
                    f"{path}:{line_no}: the file holds a JSON array; expected one JSON object per line (JSON Lines)"
                )
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            skips.bad("malformed_json", f"{name}:{line_no}", f"not valid JSON ({exc})")
            continue
        if not isinstance(record, dict):
            skips.bad("malformed_json", f"{name}:{line_no}", f"expected a JSON object, got {type(record).__name__}")
            continue
        missing = [f for f in required if record.get(f) is None]
        if missing:
            skips.bad("missing_field", f"{name}:{line_no}", f"required field {missing[0]!r} is missing or null")
            continue
        blank = [f for f in nonblank if not str(record.get(f, "")).strip()]
        if blank:
            skips.bad("missing_field", f"{name}:{line_no}", f"required field {blank[0]!r} is empty")
            continue
        yield line_no, record
