"""A tiny hand-made catalog for the data-core tests: frames + real PNG files.

Four profile categories of 15 items each; 48 users in four taste groups (each group
buys mostly from one category, a little from the next), 4-8 purchases per user plus a
few repeat purchases. Small enough to build in a fraction of a second, large enough
for 3 clusters, three splits and 3-negative retrieval.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

CATEGORIES = ("Feeding", "Nursery", "Bath", "Toys")
COLOURS = ((200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40))
ITEMS_PER_CATEGORY = 15


def write_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (12, 10)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[:] = colour
    arr[: size[1] // 2, : size[0] // 2] = (255, 255, 255)  # a corner so resizing/cropping matters
    Image.fromarray(arr).save(path)
    return path


def tiny_items(image_dir: Path) -> pd.DataFrame:
    rows = []
    for c, cat in enumerate(CATEGORIES):
        for k in range(ITEMS_PER_CATEGORY):
            item_id = f"I{c * ITEMS_PER_CATEGORY + k:03d}"
            shade = tuple(min(255, v + 7 * k) for v in COLOURS[c])
            path = image_dir / f"{item_id}.png"
            if not path.exists():
                write_png(path, shade)
            rows.append(
                {
                    "item_id": item_id,
                    "text": f"{cat} product number {k}",
                    "image_path": str(path),
                    "category": f"Baby > {cat} > Sub{k % 3}",
                    "profile_category": cat,
                }
            )
    return pd.DataFrame(rows)


def tiny_interactions(seed: int = 0, n_users: int = 48) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        group = u % len(CATEGORIES)
        n_buy = int(rng.integers(4, 9))
        for t in range(n_buy):
            cat = group if rng.random() < 0.75 else (group + 1) % len(CATEGORIES)
            k = int(rng.integers(0, ITEMS_PER_CATEGORY))
            rows.append({"user_id": f"U{u:03d}", "item_id": f"I{cat * ITEMS_PER_CATEGORY + k:03d}", "timestamp": t})
    return pd.DataFrame(rows).astype({"timestamp": np.int64})


SOURCE = {"kind": "synth", "params": {"catalog": "tiny_catalog"}, "files": []}


def tiny_config(**overrides):
    """BuildConfig sized for the tiny catalog: 3 clusters, 3 negatives, 60/20/20 split."""
    from rcml_core.data.build.dataset import BuildConfig

    base = dict(name="tiny", n_clusters=3, n_negatives=3, split_fractions=(0.6, 0.2, 0.2))
    return BuildConfig(**{**base, **overrides})


def build_tiny(out: Path, image_dir: Path, items=None, interactions=None, skips=None, overwrite=False, **config):
    """Build the tiny catalog (or the given frames) into `out`; returns the manifest."""
    from rcml_core.data.build.dataset import build_dataset
    from rcml_core.data.format.skips import SkipLog

    items = tiny_items(image_dir) if items is None else items
    interactions = tiny_interactions() if interactions is None else interactions
    skips = SkipLog() if skips is None else skips
    return build_dataset(items, interactions, out, tiny_config(**config), SOURCE, skips, overwrite=overwrite, progress=False)
