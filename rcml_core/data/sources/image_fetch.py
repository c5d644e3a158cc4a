"""Resolve each item's image to a local file: a local folder, a download cache, or a download.

Order of lookup for an item with id `I` and image URL `U` (either may be the only one):
1. the local folder (`images_dir`): `<folder>/I.<jpg|jpeg|png|webp>` (any letter case of the
   extension), then `<folder>/<basename of U's path>`;
2. only with `download=True`: the cache folder, where a downloaded URL lives under
   `<cache>/<sha256(U)[:32]>.<ext of its decoded format>` and is reused without a request;
3. only with `download=True`: a download of U into that cache.

Downloads run on a small thread pool, each with a timeout, up to `retries` retries with
exponential backoff on transient failures (connection errors, timeouts, HTTP 408/425/429/5xx,
truncated bodies), a size limit, a check that the bytes decode as an image (an HTML error
page is not an image), and an atomic write (temporary file in the cache folder, then
rename), so an interrupted run never leaves a half-written file under a cache name.
Identical URLs are fetched once. Any item left without a local file is reported to the
SkipLog as "missing_image" naming the item and the URL; under the fail policy, items
without any URL are reported before anything is downloaded.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from rcml_core.data.format.skips import SkipLog
from rcml_core.config import check_range
from rcml_core.errors import ConfigError

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")
_FORMAT_EXTENSION = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp"}
_TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 64 * 1024
_USER_AGENT = "rcml-sweeps image fetcher (+research use)"


@dataclass(frozen=True)
class ImageSourceConfig:
    """Where item images come from. At least one of `images_dir` or `download` is required."""

    images_dir: Path | None = None  # local folder of images named by item id or URL basename
    download: bool = False  # fetch missing images from their URLs (explicit opt-in)
    cache_dir: Path | None = None  # where downloads are kept and reused; required with download
    timeout_s: float = 20.0  # per request (connect and each read)
    retries: int = 3  # retries after the first attempt, transient failures only
    backoff_s: float = 1.0  # wait before retry r (1-based) is backoff_s * 2**(r-1)
    max_bytes: int = 20 * 1024 * 1024  # larger responses are refused
    workers: int = 8  # download threads

    def __post_init__(self) -> None:
        if self.images_dir is None and not self.download:
            raise ConfigError("images: give images_dir (a local image folder) or download=True with a cache_dir")
        if self.images_dir is not None and not Path(self.images_dir).is_dir():
            raise ConfigError(f"images_dir must be an existing folder, got {str(self.images_dir)!r}")
        if self.download and self.cache_dir is None:
            raise ConfigError("cache_dir is required when download=True (downloads are cached there)")
        check_range("timeout_s", self.timeout_s, 0, None, low_open=True, note="seconds")
        check_range("retries", self.retries, 0, 20, integer=True)
        check_range("backoff_s", self.backoff_s, 0, note="seconds")
        check_range("max_bytes", self.max_bytes, 1024, integer=True)
        check_range("workers", self.workers, 1, 64, integer=True)


@dataclass(frozen=True)
class ImageRef:
    """One item's image: its id, its URL (None when the source has none) and, if so, why."""

    item_id: str
    url: str | None
    no_url_reason: str = "the source gives no image URL"


@dataclass(frozen=True)
class ImageResolution:
    """Local image files by item id, and how each was obtained."""

    paths: dict[str, Path]
    n_local: int  # found in images_dir
    n_cached: int  # reused from cache_dir without a request
    n_downloaded: int  # downloaded in this call
    n_missing: int  # reported to the SkipLog as "missing_image"
    failures: dict[str, str] = field(default_factory=dict)  # URL -> why it could not be fetched


class ImageFetchError(Exception):
    """One URL could not be fetched; `transient` says whether a retry may help."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def cache_key(url: str) -> str:
    """The cache file stem of a URL: the first 32 hex digits of its SHA-256."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def cached_path(url: str, cache_dir: Path) -> Path | None:
    """The cached file of `url` if it was downloaded before, else None."""
    stem = cache_key(url)
    for ext in dict.fromkeys(_FORMAT_EXTENSION.values()):
        path = Path(cache_dir) / f"{stem}{ext}"
        if path.is_file():
            return path
    return None


def url_basename(url: str) -> str:
    """The last path segment of a URL, without query or fragment ("" if none)."""
    return Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name


def _local_index(images_dir: Path) -> dict[str, str]:
    """Lower-cased file name -> actual file name, for one listing instead of a stat per item."""
    return {entry.name.lower(): entry.name for entry in os.scandir(images_dir) if entry.is_file()}


def find_local_image(ref: ImageRef, images_dir: Path, index: dict[str, str] | None = None) -> Path | None:
    """`<images_dir>/<item_id>.<ext>` for a known image extension, else the URL's basename."""
    index = _local_index(images_dir) if index is None else index
    names = [] if ("/" in ref.item_id or "\\" in ref.item_id) else [f"{ref.item_id}{ext}" for ext in IMAGE_EXTENSIONS]
    if ref.url:
        base = url_basename(ref.url)
        if base:
            names.append(base)
    for name in names:
        actual = index.get(name.lower())
        if actual is not None:
            return Path(images_dir) / actual
    return None


def _fetch_once(url: str, cache_dir: Path, config: ImageSourceConfig, opener: urllib.request.OpenerDirector) -> Path:
    """One attempt: GET url, check size and decodability, atomically store it in the cache."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=".part-", dir=cache_dir)
    except OSError as exc:
        raise ConfigError(f"image cache folder {str(cache_dir)!r} is not writable: {exc}") from None
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as out, opener.open(request, timeout=config.timeout_s) as response:
                length = response.headers.get("Content-Length")
                if length is not None and length.isdigit() and int(length) > config.max_bytes:
                    raise ImageFetchError(f"{length} bytes exceeds the limit of {config.max_bytes}", transient=False)
                size = 0
                while chunk := response.read(_CHUNK):
                    size += len(chunk)
                    if size > config.max_bytes:
                        raise ImageFetchError(f"body exceeds the limit of {config.max_bytes} bytes", transient=False)
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise ImageFetchError(f"HTTP {exc.code} {exc.reason}", transient=exc.code in _TRANSIENT_HTTP) from None
        except urllib.error.URLError as exc:
            raise ImageFetchError(f"cannot connect: {exc.reason}", transient=True) from None
        except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, truncated bodies, I/O errors
            raise ImageFetchError(f"{type(exc).__name__}: {exc}", transient=True) from None
        try:
            with Image.open(tmp) as img:
                fmt = img.format
                img.verify()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ImageFetchError(f"the response is not a decodable image ({exc})", transient=False) from None
        final = Path(cache_dir) / f"{cache_key(url)}{_FORMAT_EXTENSION.get(fmt or '', '.img')}"
        os.replace(tmp, final)
        return final
    finally:
        tmp.unlink(missing_ok=True)


def download_image(
    url: str, cache_dir: Path, config: ImageSourceConfig, opener: urllib.request.OpenerDirector | None = None
) -> Path:
    """Download `url` into `cache_dir` (or reuse the cached file); raises ImageFetchError.

    Transient failures are retried up to `config.retries` times, sleeping
    `backoff_s * 2**(r-1)` before retry r.
    """
    hit = cached_path(url, cache_dir)
    if hit is not None:
        return hit
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise ImageFetchError(f"unsupported URL scheme {scheme!r} (http and https only)", transient=False)
    opener = opener or urllib.request.build_opener()
    attempt = 0
    while True:
        try:
            return _fetch_once(url, cache_dir, config, opener)
        except ImageFetchError as exc:
            if not exc.transient or attempt >= config.retries:
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise ImageFetchError(f"{exc}{tries}", transient=exc.transient) from None
        attempt += 1
        time.sleep(config.backoff_s * 2 ** (attempt - 1))


def resolve_images(
    refs: Sequence[ImageRef], config: ImageSourceConfig, skips: SkipLog, *, progress: bool = False
) -> ImageResolution:
    """Resolve every item's image to a local file (see the module docstring for the order).

    Returns the paths of the items that have one; every other item is reported to `skips`
    as "missing_image" ("item <id>", with the URL and the reason), in input order.
    """
    paths: dict[str, Path] = {}
    index = _local_index(Path(config.images_dir)) if config.images_dir is not None else None
    n_local = n_cached = 0
    pending: dict[str, list[str]] = {}  # url -> item ids waiting for it
    unresolved: list[ImageRef] = []
    for ref in refs:
        local = find_local_image(ref, Path(config.images_dir), index) if index is not None else None
        if local is not None:
            paths[ref.item_id] = local
            n_local += 1
        elif config.download and ref.url:
            hit = cached_path(ref.url, Path(config.cache_dir))
            if hit is not None:
                paths[ref.item_id] = hit
                n_cached += 1
            else:
                pending.setdefault(ref.url, []).append(ref.item_id)
        else:
            unresolved.append(ref)

    def no_file(ref: ImageRef) -> str:
        if ref.url is None:
            return f"no image: {ref.no_url_reason}, and no local file for it"
        where = f" in {config.images_dir}" if config.images_dir is not None else ""
        return f"no local image file for {ref.url}{where} (pass --download-images to fetch it)"

    for ref in unresolved:  # cheap failures first: under `fail` nothing is downloaded in vain
        skips.bad("missing_image", f"item {ref.item_id}", no_file(ref))

    failures: dict[str, str] = {}
    downloaded = _download_all(pending, config, failures, skips, progress) if pending else {}
    for url, path in downloaded.items():
        for item_id in pending[url]:
            paths[item_id] = path
    for url, reason in failures.items():
        for item_id in pending[url]:
            skips.bad("missing_image", f"item {item_id}", f"could not download {url}: {reason}")
    n_missing = len(unresolved) + sum(len(pending[u]) for u in failures)
    return ImageResolution(paths, n_local, n_cached, len(downloaded), n_missing, failures)


def _download_all(
    pending: dict[str, list[str]],
    config: ImageSourceConfig,
    failures: dict[str, str],
    skips: SkipLog,
    progress: bool,
) -> dict[str, Path]:
    """Download the URLs of `pending` (url -> item ids) on a thread pool; failures go to `failures` (url -> reason).

    Under the fail policy the first failure cancels the downloads not yet started and is
    reported at once.
    """
    cache_dir = Path(config.cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    opener = urllib.request.build_opener()  # honours http(s)_proxy / no_proxy from the environment
    done_paths: dict[str, Path] = {}
    with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="image-fetch") as pool:
        futures: dict[Future, str] = {pool.submit(download_image, u, cache_dir, config, opener): u for u in pending}
        with tqdm(total=len(futures), unit="img", desc="downloading images", disable=not progress, leave=False) as bar:
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for fut in done:
                    url = futures[fut]
                    try:
                        done_paths[url] = fut.result()
                    except ImageFetchError as exc:
                        if skips.policy == "fail":
                            for other in remaining:
                                other.cancel()
                            skips.bad("missing_image", f"item {pending[url][0]}", f"could not download {url}: {exc}")
                        failures[url] = str(exc)
                    bar.update(1)
    return {u: done_paths[u] for u in pending if u in done_paths}  # input order, deterministic
