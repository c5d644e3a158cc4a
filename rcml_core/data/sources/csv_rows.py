"""Streaming CSV rows (plain or gzipped) with exact line numbers and SkipLog reporting.

Used for UCSD Goodreads' `goodreads_interactions.csv`, `user_id_map.csv` and
`book_id_map.csv`. The first line is the header; `required` columns must be in it (else a
`DataError` naming the file and the columns it has). A row with a different number of
fields than the header, or that is not UTF-8, is reported as "malformed_csv" at
"file:line". Blank lines are not records.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

from rcml_core.data.sources.jsonl import iter_lines
from rcml_core.data.format.skips import SkipLog
from rcml_core.errors import DataError


def iter_csv_rows(
    path: Path, skips: SkipLog, required: Sequence[str], *, progress: bool = False
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line_no, {column: value}) for the data rows; only the `required` columns are kept."""
    path = Path(path)
    name = path.name
    current = 0  # physical line of the text handed to csv.reader last

    def text_lines() -> Iterator[str]:
        nonlocal current
        for line_no, raw in iter_lines(path, progress=progress):
            current = line_no
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                skips.bad("malformed_csv", f"{name}:{line_no}", f"not UTF-8 text ({exc})")

    reader = csv.reader(text_lines(), strict=True)  # bad quoting is an error, not a silently merged field
    header = next(reader, None)
    if header is None:
        raise DataError(f"{path}: the file is empty; expected a CSV header with {', '.join(required)}")
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(f"{path}:1: the CSV header {header} lacks column(s) {missing}; expected {list(required)}")
    positions = [header.index(c) for c in required]
    width = len(header)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a NUL byte, or an unterminated quote at the end of the file
            skips.bad("malformed_csv", f"{name}:{current}", f"not a CSV row ({exc})")
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != width:
            detail = f"expected {width} fields ({','.join(header)}), got {len(row)}"
            skips.bad("malformed_csv", f"{name}:{current}", detail)
            continue
        yield current, {c: row[p].strip() for c, p in zip(required, positions)}


def read_id_map(path: Path, key: str, value: str, skips: SkipLog, *, progress: bool = False) -> dict[str, str]:
    """A two-column id map (e.g. book_id_csv -> book_id) as a dict; a repeated key keeps the first.

    A repeated key with a different value is reported as "duplicate_map_entry".
    """
    out: dict[str, str] = {}
    for line_no, row in iter_csv_rows(path, skips, (key, value), progress=progress):
        k, v = row[key], row[value]
        if not k or not v:
            skips.bad("missing_field", f"{Path(path).name}:{line_no}", f"empty {key if not k else value!r}")
            continue
        seen = out.setdefault(k, v)
        if seen != v:
            skips.bad(
                "duplicate_map_entry",
                f"{Path(path).name}:{line_no}",
                f"{key} {k} maps to {v!r} here but to {seen!r} before; the first is kept",
            )
    return out
