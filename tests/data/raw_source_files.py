"""Writers of small raw source files in the real formats, for the source-loader tests.

JSON Lines (plain or gzipped), CSV, and real PNG/JPEG images made with Pillow. The Amazon
and Goodreads generators live in `amazon_raw.py` and `goodreads_raw.py` beside this file.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from pathlib import Path

from PIL import Image


def write_jsonl(path: Path, records: Iterable[dict | str], *, gz: bool | None = None) -> Path:
    """One JSON object per line; a str record is written verbatim (to plant a bad line).

    gz: compress; by default when the name ends in ".gz".
    """
    path = Path(path)
    gz = path.name.endswith(".gz") if gz is None else gz
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable[object] | str]) -> Path:
    """A CSV file; a str row is written verbatim (to plant a bad line). Gzipped if it ends in .gz."""
    lines = [",".join(header)] + [r if isinstance(r, str) else ",".join(str(v) for v in r) for r in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    Path(path).write_bytes(gzip.compress(data) if str(path).endswith(".gz") else data)
    return Path(path)


def image_bytes(color: tuple[int, int, int], fmt: str = "PNG", size: int = 8) -> bytes:
    """A small solid image encoded as `fmt` (PNG, JPEG, WEBP)."""
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format=fmt)
    return buf.getvalue()


def write_image(path: Path, color: tuple[int, int, int], size: int = 8) -> Path:
    """A small solid image; the format follows the file extension."""
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[Path(path).suffix.lower()]
    Path(path).write_bytes(image_bytes(color, fmt, size))
    return Path(path)


def color_of(index: int) -> tuple[int, int, int]:
    """A deterministic distinct-ish colour per index."""
    return ((index * 67) % 256, (index * 131 + 40) % 256, (index * 197 + 90) % 256)
