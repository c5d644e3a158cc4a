"""Amazon Reviews 2023 (Hou et al., 2024): reviews + item metadata -> items and interactions.

Files (one per domain, JSON Lines, usually gzipped):
- reviews, e.g. `Baby_Products.jsonl.gz`, one review per line: rating, title, text, images,
  asin, parent_asin, user_id, timestamp (ms), helpful_vote, verified_purchase;
- metadata, e.g. `meta_Baby_Products.jsonl.gz`, one item per line: main_category, title,
  average_rating, rating_number, features, description, price, images (list of
  {thumb, large, hi_res, variant}), videos, store, categories, details, parent_asin,
  bought_together.
Reviews join items on parent_asin (the item; asin is a variant of it).

Mapping to the canonical item (DESIGN §3, paper 4.1 / A.2):
- item_id = parent_asin; text = title (whitespace-trimmed);
- category = " > ".join(categories), e.g. "Baby Products > Feeding > Bottles";
- profile_category = categories[1], the level below the domain, which users are profiled
  on. Items whose categories have fewer than two levels (Amazon ships many with `[]`) have
  no such level; they are reported as "missing_category" rather than given a made-up one;
- image = the MAIN image (variant "MAIN", else the first listed), its hi_res URL, else its
  large URL; when that image has neither, the next image that has one.

Bad records (SkipLog reasons): malformed_json and missing_field (from the reader),
empty_title, bad_field (a field of the wrong type), missing_category, missing_image (no
image URL at all), duplicate_item (a parent_asin seen before in the metadata: the first
is kept), review_unknown_item (a review whose parent_asin is not in the metadata),
review_of_skipped_item (a review of an item skipped above: counted apart so that one bad
item does not look like many unknown ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rcml_core.data.build.dataset import BuildConfig
from rcml_core.data.sources.image_fetch import ImageSourceConfig
from rcml_core.data.sources.interactions import InteractionFilter
from rcml_core.data.sources.jsonl import iter_json_lines
from rcml_core.data.format.skips import SkipLog
from rcml_core.data.sources.pipeline import SourceReport, build_from_source, file_info, image_params
from rcml_core.data.format.store import check_destination
from rcml_core.errors import ConfigError

META_REQUIRED: tuple[str, ...] = ("parent_asin", "title")
REVIEW_REQUIRED: tuple[str, ...] = ("user_id", "parent_asin", "timestamp")
MAIN_VARIANT = "MAIN"
CATEGORY_SEPARATOR = " > "


@dataclass(frozen=True)
class AmazonFilter:
    """Amazon-specific review selection: keep reviews with rating >= min_rating (None: all)."""

    min_rating: float | None = None

    def __post_init__(self) -> None:
        if self.min_rating is not None and not 1.0 <= self.min_rating <= 5.0:
            raise ConfigError(f"min_rating must be in [1, 5] (Amazon's star scale), got {self.min_rating}")


@dataclass(frozen=True)
class AmazonItems:
    """Items read from a metadata file, one row per kept item."""

    frame: pd.DataFrame  # item_id, text, category, profile_category, image_url (str | None)
    n_records: int  # well-formed records read (bad lines are counted in the SkipLog)
    skipped_ids: frozenset[str]  # parent_asins of items reported as bad (their reviews are counted apart)


@dataclass(frozen=True)
class AmazonReviews:
    """Interactions read from a reviews file."""

    frame: pd.DataFrame  # user_id, item_id, timestamp (int64 ms)
    n_records: int  # well-formed records read (bad lines are counted in the SkipLog)
    n_below_min_rating: int  # reviews left out by AmazonFilter.min_rating (a choice, not a bad record)


def main_image_url(images: Sequence[dict]) -> str | None:
    """The URL of an item's main image: variant MAIN (else the first), hi_res else large.

    Falls back to the next image, in listed order, when the chosen one has no such URL.
    """
    entries = [im for im in images if isinstance(im, dict)]
    entries.sort(key=lambda im: im.get("variant") != MAIN_VARIANT)  # stable: MAIN first, then listed order
    for im in entries:
        for key in ("hi_res", "large"):
            url = im.get(key)
            if isinstance(url, str) and url.strip():
                return url.strip()
    return None


def _categories(value: object) -> list[str] | None:
    """The category path as a list of non-empty strings, or None if it is not a list of strings."""
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        return None
    return [c.strip() for c in value if c.strip()]


def read_amazon_meta(path: Path, skips: SkipLog, *, progress: bool = False) -> AmazonItems:
    """Read item metadata into canonical item rows (see the module docstring for the mapping)."""
    path = Path(path)
    rows: dict[str, tuple[str, str, str, str | None]] = {}
    skipped: set[str] = set()
    n_records = 0
    records = iter_json_lines(
        path, skips, META_REQUIRED, nonblank=("parent_asin",), progress=progress, desc=f"reading {path.name}"
    )
    for line_no, rec in records:
        n_records += 1
        where = f"{path.name}:{line_no}"
        item_id = str(rec["parent_asin"]).strip()
        if item_id in rows:
            skips.bad("duplicate_item", where, f"item {item_id} appeared before in the metadata; the first is kept")
            continue
        title = rec["title"]
        if not isinstance(title, str) or not title.strip():
            skipped.add(item_id)
            skips.bad("empty_title", where, f"item {item_id} has an empty title")
            continue
        categories = _categories(rec.get("categories", []))
        if categories is None:
            skipped.add(item_id)
            skips.bad("bad_field", where, f"item {item_id}: 'categories' must be a list of strings")
            continue
        if len(categories) < 2:
            skipped.add(item_id)
            skips.bad(
                "missing_category",
                where,
                f"item {item_id} has categories {categories}: no level below the domain to profile users on",
            )
            continue
        images = rec.get("images") or []
        if not isinstance(images, list):
            skipped.add(item_id)
            skips.bad("bad_field", where, f"item {item_id}: 'images' must be a list")
            continue
        url = main_image_url(images)
        if url is None:
            skipped.add(item_id)
            skips.bad("missing_image", where, f"item {item_id} has no image (no hi_res or large URL in 'images')")
            continue
        rows[item_id] = (" ".join(title.split()), CATEGORY_SEPARATOR.join(categories), categories[1], url)
    frame = pd.DataFrame(
        [(k, *v) for k, v in rows.items()],
        columns=["item_id", "text", "category", "profile_category", "image_url"],
        dtype=object,
    )
    return AmazonItems(frame, n_records, frozenset(skipped - set(rows)))


def read_amazon_reviews(
    path: Path,
    skips: SkipLog,
    items: AmazonItems,
    config: AmazonFilter = AmazonFilter(),
    *,
    progress: bool = False,
) -> AmazonReviews:
    """Read reviews into (user_id, item_id, timestamp) interactions with items from `items`."""
    path = Path(path)
    known = set(items.frame["item_id"])
    required = REVIEW_REQUIRED + (("rating",) if config.min_rating is not None else ())
    users: list[str] = []
    item_ids: list[str] = []
    stamps: list[int] = []
    n_records = n_low = 0
    records = iter_json_lines(
        path, skips, required, nonblank=("user_id", "parent_asin"), progress=progress, desc=f"reading {path.name}"
    )
    for line_no, rec in records:
        n_records += 1
        where = f"{path.name}:{line_no}"
        item_id = str(rec["parent_asin"]).strip()
        if item_id not in known:
            if item_id in items.skipped_ids:
                skips.bad("review_of_skipped_item", where, f"review of item {item_id}, which was skipped")
            else:
                skips.bad("review_unknown_item", where, f"review of item {item_id}, which is not in the metadata")
            continue
        stamp = rec["timestamp"]
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or stamp != stamp:
            skips.bad("bad_field", where, f"'timestamp' must be a number of milliseconds, got {stamp!r}")
            continue
        if config.min_rating is not None:
            rating = rec["rating"]
            if isinstance(rating, bool) or not isinstance(rating, (int, float)):
                skips.bad("bad_field", where, f"'rating' must be a number, got {rating!r}")
                continue
            if rating < config.min_rating:
                n_low += 1
                continue
        users.append(str(rec["user_id"]))
        item_ids.append(item_id)
        stamps.append(int(stamp))
    frame = pd.DataFrame(
        {
            "user_id": pd.Series(users, dtype=object),
            "item_id": pd.Series(item_ids, dtype=object),
            "timestamp": np.asarray(stamps, dtype=np.int64),
        }
    )
    return AmazonReviews(frame, n_records, n_low)


def prepare_amazon(
    reviews: Path,
    meta: Path,
    out_dir: Path,
    *,
    build: BuildConfig,
    images: ImageSourceConfig,
    filters: InteractionFilter = InteractionFilter(),
    amazon: AmazonFilter = AmazonFilter(),
    skips: SkipLog,
    overwrite: bool = False,
    progress: bool = True,
) -> SourceReport:
    """Amazon Reviews 2023 files -> canonical dataset at out_dir (read, filter, images, build)."""
    check_destination(Path(out_dir), overwrite)  # before the long reads
    items = read_amazon_meta(meta, skips, progress=progress)
    revs = read_amazon_reviews(reviews, skips, items, amazon, progress=progress)
    source = {
        "kind": "amazon",
        "params": {"domain": build.name, **asdict(filters), **asdict(amazon), **image_params(images)},
        "files": [file_info(reviews), file_info(meta)],
    }
    return build_from_source(
        items.frame,
        revs.frame,
        out_dir,
        build=build,
        filters=filters,
        images=images,
        source=source,
        skips=skips,
        records={Path(reviews).name: revs.n_records, Path(meta).name: items.n_records},
        notes={"reviews below min_rating": revs.n_below_min_rating} if amazon.min_rating is not None else {},
        overwrite=overwrite,
        progress=progress,
    )
