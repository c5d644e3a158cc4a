"""Small Amazon Reviews 2023 files in the real format, for the loader tests.

Four sub-categories under "Baby Products", 24 items each; users in four taste groups buy
mostly from their group's sub-category (so clustering finds structure), 6-10 items each.
Every item has a real JPEG image in `images/<parent_asin>.jpg` and an image URL whose
basename differs from the item id. Bad lines can be planted; their line numbers are
returned so tests can check that messages name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from raw_source_files import color_of, image_bytes, write_jsonl

SUBCATEGORIES = ("Feeding", "Nursery", "Bathing", "Toys")
DOMAIN_LEVEL = "Baby Products"


@dataclass
class AmazonRaw:
    reviews: Path
    meta: Path
    images_dir: Path
    items: list[dict]  # the good metadata records
    reviews_records: list[dict]  # the good review records
    image_data: dict[str, bytes]  # URL path (relative to url_base) -> JPEG bytes
    bad_meta_lines: list[int] = field(default_factory=list)  # line numbers of planted meta lines
    bad_review_lines: list[int] = field(default_factory=list)


def item_id(k: int) -> str:
    return f"B0{k:08d}"


def meta_record(k: int, sub: str, url_base: str) -> dict:
    asin = item_id(k)
    hi_res = f"{url_base}/{71000 + k}L._SL1500_.jpg"
    return {
        "main_category": "Baby",
        "title": f"{sub} essential model {k}",
        "average_rating": 4.5,
        "rating_number": 12,
        "features": ["soft", "safe"],
        "description": [f"A {sub.lower()} product."],
        "price": "12.99",
        "images": [
            {"thumb": f"{url_base}/alt{k}._SS40_.jpg", "large": f"{url_base}/alt{k}.jpg", "variant": "PT01",
             "hi_res": f"{url_base}/alt{k}_hi.jpg"},
            {"thumb": f"{url_base}/{71000 + k}._SS40_.jpg", "large": f"{url_base}/{71000 + k}.jpg",
             "variant": "MAIN", "hi_res": hi_res},
        ],
        "videos": [],
        "store": "Acme Baby",
        "categories": [DOMAIN_LEVEL, sub, f"{sub} Sub {k % 3}"],
        "details": {"Brand": "Acme"},
        "parent_asin": asin,
        "bought_together": None,
    }


def review_record(user: str, asin: str, t: int, rating: float = 5.0) -> dict:
    return {
        "rating": rating,
        "title": "Great",
        "text": "Works as described.",
        "images": [],
        "asin": asin + "X",
        "parent_asin": asin,
        "user_id": user,
        "timestamp": 1_600_000_000_000 + t * 1000,
        "helpful_vote": 0,
        "verified_purchase": True,
    }


def make_amazon(
    root: Path,
    *,
    n_users: int = 120,
    items_per_sub: int = 24,
    gz: bool = True,
    seed: int = 0,
    url_base: str = "https://m.media-amazon.com/images/I",
    extra_meta: list[dict | str] = (),
    extra_reviews: list[dict | str] = (),
    edit_meta: Callable[[list[dict]], None] | None = None,
    write_images: bool = True,
) -> AmazonRaw:
    """Write reviews + meta (+ images) under root; planted lines go after the good ones."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = [meta_record(s * items_per_sub + j, sub, url_base) for s, sub in enumerate(SUBCATEGORIES)
             for j in range(items_per_sub)]
    if edit_meta is not None:
        edit_meta(items)
    reviews = []
    t = 0
    for u in range(n_users):
        group = u % len(SUBCATEGORIES)
        n_buy = int(rng.integers(6, 11))
        ks = set()
        while len(ks) < n_buy:
            s = group if rng.random() < 0.7 else int(rng.integers(len(SUBCATEGORIES)))
            ks.add(s * items_per_sub + int(rng.integers(items_per_sub)))
        for k in sorted(ks):
            reviews.append(review_record(f"AGU{u:05d}XYZ", item_id(k), t, rating=float(rng.integers(1, 6))))
            t += 1
    ext = ".jsonl.gz" if gz else ".jsonl"
    meta_path = write_jsonl(root / f"meta_Baby_Products{ext}", [*items, *extra_meta])
    reviews_path = write_jsonl(root / f"Baby_Products{ext}", [*reviews, *extra_reviews])
    images_dir = root / "images"
    images_dir.mkdir(exist_ok=True)
    image_data = {}
    for k in range(len(SUBCATEGORIES) * items_per_sub):
        data = image_bytes(color_of(k), "JPEG", size=12)
        image_data[f"{71000 + k}L._SL1500_.jpg"] = data
        if write_images:
            (images_dir / f"{item_id(k)}.jpg").write_bytes(data)
    return AmazonRaw(
        reviews=reviews_path,
        meta=meta_path,
        images_dir=images_dir,
        items=items,
        reviews_records=reviews,
        image_data=image_data,
        bad_meta_lines=[len(items) + 1 + i for i in range(len(extra_meta))],
        bad_review_lines=[len(reviews) + 1 + i for i in range(len(extra_reviews))],
    )
