"""Amazon Reviews 2023 (Hou et al., 2024): reviews + item metadata -> items and interactions.

Files (one per domain, JSON Lines, usually gzipped):
- reviews, e.g. `Baby_Products.jsonl.gz`, one review per line: rating, title, text, images,
  asin, parent_asin, user_id, timestamp (ms), helpful_vote, verified_purchase;
- metadata, e.g. `meta_Baby_Products.jsonl.gz`, one item per line: main_category, title,
  average_rating, rating_number, features, description, price, images (list of
  {thumb, large, hi_res, variant}), videos, store, categories, details, parent_asin,
  bought_together.
Reviews join items on parent_asin (the item; asin is a variant of it).

Mapping to the canonical item (docs/data-sources.md, paper 4.1 / A.2):
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

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rcml_core.data.format.skips import SkipLog
from rcml_core.data.format.store import check_destination
from rcml_core.data.sources.jsonl import iter_json_lines
from rcml_core.data.sources.pipeline import Preparation, SourceRead, SourceReport, build_from_source, file_info, image_params
from rcml_core.data.sources.reader import (
    BadRecord,
    InteractionRecords,
    InteractionSpec,
    ItemRecords,
    ItemSpec,
    Record,
    read_interactions,
    read_items,
)
from rcml_core.config import check_range

META_REQUIRED: tuple[str, ...] = ("parent_asin", "title")
REVIEW_REQUIRED: tuple[str, ...] = ("user_id", "parent_asin", "timestamp")
MAIN_VARIANT = "MAIN"
CATEGORY_SEPARATOR = " > "


@dataclass(frozen=True)
class AmazonFilter:
    """Amazon-specific review selection: keep reviews with rating >= min_rating (None: all)."""

    min_rating: float | None = None

    def __post_init__(self) -> None:
        if self.min_rating is not None:
            check_range("min_rating", self.min_rating, 1, 5, note="Amazon's star scale")


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


def _item_row(item_id: str, rec: Record) -> tuple[str, str, str]:
    """(category, profile_category, image_url) of a metadata record; raises BadRecord."""
    categories = _categories(rec.get("categories", []))
    if categories is None:
        raise BadRecord("bad_field", f"item {item_id}: 'categories' must be a list of strings")
    if len(categories) < 2:
        raise BadRecord("missing_category",
                        f"item {item_id} has categories {categories}: no level below the domain to profile users on")
    images = rec.get("images") or []
    if not isinstance(images, list):
        raise BadRecord("bad_field", f"item {item_id}: 'images' must be a list")
    url = main_image_url(images)
    if url is None:
        raise BadRecord("missing_image", f"item {item_id} has no image (no hi_res or large URL in 'images')")
    return CATEGORY_SEPARATOR.join(categories), categories[1], url


META = ItemSpec("parent_asin", "item", "the metadata", ("category", "profile_category", "image_url"), _item_row)


def read_amazon_meta(path: Path, skips: SkipLog, *, progress: bool = False) -> ItemRecords:
    """Read item metadata into canonical item rows (see the module docstring for the mapping):
    item_id, text, category, profile_category, image_url."""
    records = iter_json_lines(Path(path), skips, META_REQUIRED, nonblank=("parent_asin",), progress=progress)
    return read_items(path, records, skips, META)


def _review_fields(config: AmazonFilter) -> Callable[[Record], tuple[int] | None]:
    def fields(rec: Record) -> tuple[int] | None:
        """(timestamp,) of a review, or None when it is below the minimum rating; raises BadRecord."""
        stamp = rec["timestamp"]
        if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or stamp != stamp:
            raise BadRecord("bad_field", f"'timestamp' must be a number of milliseconds, got {stamp!r}")
        if config.min_rating is not None:
            rating = rec["rating"]
            if isinstance(rating, bool) or not isinstance(rating, (int, float)):
                raise BadRecord("bad_field", f"'rating' must be a number, got {rating!r}")
            if rating < config.min_rating:
                return None
        return (int(stamp),)

    return fields


def read_amazon_reviews(
    path: Path,
    skips: SkipLog,
    items: ItemRecords,
    config: AmazonFilter = AmazonFilter(),
    *,
    progress: bool = False,
) -> InteractionRecords:
    """Read reviews into (user_id, item_id, timestamp) interactions with items from `items`; `n_left_out`
    counts the reviews below AmazonFilter.min_rating."""
    required = REVIEW_REQUIRED + (("rating",) if config.min_rating is not None else ())
    records = iter_json_lines(Path(path), skips, required, nonblank=("user_id", "parent_asin"), progress=progress)
    spec = InteractionSpec("review", "review of item", "which is not in the metadata",
                           identify=lambda rec: (str(rec["user_id"]), str(rec["parent_asin"]).strip()),
                           fields=_review_fields(config), columns={"timestamp": np.int64})
    return read_interactions(path, records, skips, items, spec)


def prepare_amazon(reviews: Path, meta: Path, prep: Preparation, amazon: AmazonFilter = AmazonFilter()) -> SourceReport:
    """Amazon Reviews 2023 files -> canonical dataset at prep.out_dir (read, filter, images, build)."""
    check_destination(Path(prep.out_dir), prep.overwrite)  # before the long reads
    items = read_amazon_meta(meta, prep.skips, progress=prep.progress)
    revs = read_amazon_reviews(reviews, prep.skips, items, amazon, progress=prep.progress)
    source = {
        "kind": "amazon",
        "params": {"domain": prep.build.name, **asdict(prep.filters), **asdict(amazon), **image_params(prep.images)},
        "files": [file_info(reviews), file_info(meta)],
    }
    records = {Path(reviews).name: revs.n_records, Path(meta).name: items.n_records}
    notes = {"reviews below min_rating": revs.n_left_out} if amazon.min_rating is not None else {}
    return build_from_source(SourceRead(items.frame, revs.frame, source, records, notes), prep)
