"""Durable, atomic writing of a dataset folder.

`staged_dir` hands out a staging folder next to the destination; on success it is
renamed into place (with `overwrite`: the old folder is swapped out first and removed
after), on any exception it is deleted, so a failed build never leaves a folder that
loads; a build the file system refuses (a full disk) is one error naming the folder.
Files are fsynced before the rename so a crash cannot publish empty files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rcml_core.data.format.schema import MANIFEST_FILE
from rcml_core.errors import DataError
from rcml_core.writable import fsync_dir, fsync_file, naming_refusals


def write_table(frame: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    """Write `frame` as Parquet with exactly `schema` (no pandas index or metadata)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path)
    fsync_file(path)


def write_json(obj: dict, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    fsync_file(path)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def image_name(item_id: str, suffix: str) -> str:
    """File name for an item's image: the id when it is filesystem-safe, else a
    sanitised id plus a short hash of the real one (so names never collide)."""
    safe = _UNSAFE.sub("_", item_id)[:100]
    if safe != item_id or safe.startswith("."):
        safe = "_" * safe.startswith(".") + safe.lstrip(".")  # no hidden files, no ".."
        safe = f"{safe}-{hashlib.sha1(item_id.encode('utf-8')).hexdigest()[:10]}"
    return safe + suffix.lower()


def place_image(src: Path, dst: Path) -> None:
    """Hardlink `src` to `dst` when possible (same filesystem), else copy it."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
        fsync_file(dst)


def _is_replaceable(path: Path) -> bool:
    """Only an empty folder or a dataset (has a manifest) may be overwritten: never a
    user's unrelated folder passed by mistake."""
    return path.is_dir() and (not any(path.iterdir()) or (path / MANIFEST_FILE).is_file())


def check_destination(out_dir: Path, overwrite: bool) -> None:
    if not out_dir.exists():
        return
    if not overwrite:
        raise DataError(f"output folder {str(out_dir)!r} already exists; pass overwrite (--overwrite) to replace it")
    if not _is_replaceable(out_dir):
        raise DataError(
            f"output folder {str(out_dir)!r} exists and is not a dataset (no {MANIFEST_FILE}); "
            "refusing to overwrite it: remove it yourself or choose another folder"
        )


@contextmanager
def staged_dir(out_dir: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a fresh staging folder; publish it as `out_dir` when the block succeeds."""
    out_dir = Path(out_dir)
    check_destination(out_dir, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = out_dir.parent / f".{out_dir.name}.staging-{token}"
    with naming_refusals(f"dataset {out_dir} (in {staging})", "nothing was published"):
        staging.mkdir()
        try:
            yield staging
            for sub in [p for p in staging.rglob("*") if p.is_dir()] + [staging]:
                fsync_dir(sub)
            _publish(staging, out_dir, overwrite, token)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _publish(staging: Path, out_dir: Path, overwrite: bool, token: str) -> None:
    check_destination(out_dir, overwrite)  # it may have appeared while we built
    old = out_dir.parent / f".{out_dir.name}.old-{token}"
    swapped = False
    if out_dir.exists():
        os.rename(out_dir, old)
        swapped = True
    try:
        os.rename(staging, out_dir)
    except BaseException:
        if swapped:
            os.rename(old, out_dir)
        raise
    fsync_dir(out_dir.parent)
    if swapped:
        shutil.rmtree(old, ignore_errors=True)
