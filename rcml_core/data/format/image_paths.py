"""Item image paths stay inside their dataset folder.

`items.image` is a path relative to the dataset root. A dataset is data someone else may have
written: an absolute path or one that climbs out with `..` would make the loader, the
content hash and the image cache read any file the user can read (and echo its name, or its
pixels, into a run). Such a path is refused where a dataset is loaded, hashed or checked,
with the row and item it comes from. The test is lexical (no file system access), so it costs
nothing per load; `rcml data check` also resolves symbolic links.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import pandas as pd

from rcml_core.errors import DataError


def image_path_problem(rel: object) -> str | None:
    """Why `rel` is not a relative path inside the dataset folder, or None when it is."""
    if not isinstance(rel, str) or not rel.strip():
        return "image path is empty"
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).is_absolute() or PureWindowsPath(rel).drive:
        return f"image path {rel!r} is absolute; it must be relative to the dataset folder"
    if ".." in PurePosixPath(rel.replace("\\", "/")).parts:
        return f"image path {rel!r} leaves the dataset folder ('..')"
    return None


def require_images_inside(root: Path, items: pd.DataFrame, file: str) -> None:
    """DataError naming the file, row and item of the first image path that is not inside the folder."""
    for row, (item_id, rel) in enumerate(zip(items["item_id"].tolist(), items["image"].tolist())):
        problem = image_path_problem(rel)
        if problem is not None:
            raise DataError(f"{Path(root) / file} row {row} (item {item_id!r}): {problem}")
