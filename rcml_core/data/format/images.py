"""The decoded-image cache the trainer reads: every item image decoded and resized once.

`image_array(ds, size)` returns an (N, size, size, 3) uint8 array in item order,
memory-mapped from an .npy file. Preprocessing is CLIP's (what
`transformers.CLIPImageProcessor(size={"shortest_edge": size}, crop_size=size)` does
before rescaling): convert to RGB, resize the shortest side to `size` with bicubic
resampling (long side `int(size * long / short)`), centre crop `size` x `size`
(offsets floor((dim - size) / 2)). Normalisation (CLIP mean/std) is left to the
consumer, so the cache stays uint8 (4x smaller than float32).

The file name holds the dataset's content hash, a key over the image files it is decoded
from (each file's path, size and modification time), the size and the method, so a
rebuilt dataset, an edited image or another size gets its own file, and the cache never
outlives its sources: every image file is looked up (one `stat` each) before the cache
is used, and a missing one is an error naming the item and the file, exactly as when
the cache is built, never a silent run on pixels decoded from a file that is gone. A
new cache replaces the stale ones of the same dataset and size. It is written to a
temporary name and renamed, so a crash never leaves a truncated cache that looks valid. The build runs
behind an exclusive file lock beside the cache: trials starting together on a new node
wait for one decode instead of each decoding every image (POSIX `flock`, which also
holds on NFSv4).

Readers keep the read-only memory map: its pages live once in the node's page cache,
shared by every process that reads it, instead of a private copy per process (a 100,000
item catalog at 224 px is 15 GB).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from rcml_core.data.format.schema import RelationalDataset
from rcml_core.errors import DataError
from rcml_core.writable import fsync_file, naming_refusals

RESIZE_METHOD = "bicubic-shortest-centercrop"
CACHE_DIR = "cache"
_MIN_SIZE, _MAX_SIZE = 1, 4096


def clip_preprocess(image: Image.Image, size: int) -> np.ndarray:
    """(size, size, 3) uint8: RGB, shortest side resized to `size` (bicubic), centre crop."""
    image = image.convert("RGB")
    w, h = image.size
    if w <= h:
        new_w, new_h = size, int(size * h / w)
    else:
        new_w, new_h = int(size * w / h), size
    image = image.resize((new_w, new_h), resample=Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.uint8)  # (size, size, 3)


def sources_key(ds: RelationalDataset) -> str:
    """16 hex digits over every item image's relative path, size and modification time (item order).

    DataError naming the item and the file when an image file is missing: the cache may not be used then.
    """
    h = hashlib.sha256()
    for index, rel in enumerate(ds.items["image"].tolist()):
        path = ds.root / rel
        try:
            st = os.stat(path)
        except OSError as exc:
            why = "is missing" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})"
            raise DataError(f"item {ds.items['item_id'].iat[index]!r}: image file {str(path)!r} {why}") from None
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8"))
    return h.hexdigest()[:16]


def _cache_prefix(ds: RelationalDataset) -> str:
    return f"images-{ds.manifest.content_hash[:16]}-"


def _cache_suffix(size: int) -> str:
    return f"-{size}px-{RESIZE_METHOD}.npy"


def cache_path(ds: RelationalDataset, size: int, cache_dir: Path | None = None) -> Path:
    """Where the cache for (dataset content, image files as they are now, size, method) lives."""
    folder = Path(cache_dir) if cache_dir is not None else ds.root / CACHE_DIR
    return folder / f"{_cache_prefix(ds)}{sources_key(ds)}{_cache_suffix(size)}"


def _remove_stale(ds: RelationalDataset, size: int, path: Path) -> None:
    """Delete this dataset's caches of this size decoded from other versions of its image files (a reader
    that still maps one keeps its pages until it closes it)."""
    for old in path.parent.glob(f"{_cache_prefix(ds)}*{_cache_suffix(size)}"):
        if old != path:
            old.unlink(missing_ok=True)


def _load_cached(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached array if it exists with the expected shape and dtype, else None."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    return arr if arr.shape == shape and arr.dtype == np.uint8 else None


@contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `.<cache>.lock` (blocking) while the cache is built.

    The lock file is removed before the lock is released: once the cache is in place newcomers find
    it without locking. (After a failed build, a process still waiting on the removed file and a
    newcomer may then both build; each writes its own temporary file and renames it atomically.)
    """
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _decode(ds: RelationalDataset, index: int, size: int) -> np.ndarray:
    path = ds.image_path(index)
    item = ds.items["item_id"].iat[index]
    try:
        with Image.open(path) as im:
            return clip_preprocess(im, size)
    except FileNotFoundError as exc:
        raise DataError(f"item {item!r}: image file {str(path)!r} is missing") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"item {item!r}: image file {str(path)!r} cannot be decoded ({exc})") from exc


def image_array(
    ds: RelationalDataset,
    size: int,
    cache_dir: Path | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> np.ndarray:
    """(N, size, size, 3) uint8 images in item order, read-only memory map of the cache.

    Builds the cache on first use (decoding with `workers` threads, default: CPU
    count; Pillow releases the GIL while decoding and resizing), once per node however
    many processes ask at the same time, and reuses it after.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not _MIN_SIZE <= size <= _MAX_SIZE:
        raise DataError(f"image size must be an integer in [{_MIN_SIZE}, {_MAX_SIZE}], got {size!r}")
    shape = (ds.n_items, size, size, 3)
    path = cache_path(ds, size, cache_dir)
    cached = _load_cached(path, shape)
    if cached is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(path):
        cached = _load_cached(path, shape)  # another process may have built it while we waited
        if cached is not None:
            return cached
        with naming_refusals(f"the decoded-image cache {path}"):
            _build(ds, size, path, shape, progress, workers)
        _remove_stale(ds, size, path)
    return np.load(path, mmap_mode="r")


def _build(ds: RelationalDataset, size: int, path: Path, shape: tuple[int, ...], progress: bool,
           workers: int | None) -> None:
    tmp = path.with_name(f".{path.stem}.tmp-{uuid.uuid4().hex[:8]}.npy")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)  # (N, size, size, 3)

        def fill(i: int) -> None:
            out[i] = _decode(ds, i, size)

        pool = ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1)
        try:
            done = pool.map(fill, range(ds.n_items))
            for _ in tqdm(done, total=ds.n_items, desc=f"decode images ({size}px)", unit="img", disable=not progress):
                pass
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # a bad image stops the remaining decodes
        out.flush()
        del out
        fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
