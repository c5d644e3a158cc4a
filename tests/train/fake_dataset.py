"""An in-memory RelationalDataset for unit tests that need no files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rcml_core.data.format.schema import INTRA_RELATION_TEXT, Manifest, RelationalDataset


def fake_dataset(n_items: int = 12, edges: list[tuple[int, int, int]] | None = None, n_relations: int = 2) -> RelationalDataset:
    """Items 0..n-1 all in train (unless edges say otherwise); edges as (src, dst, relation_id)."""
    edges = edges if edges is not None else [(0, 1, 1), (1, 2, 2), (3, 4, 1), (5, 6, 2), (0, 6, 1)]
    items = pd.DataFrame(
        {
            "item_id": [f"i{k:03d}" for k in range(n_items)],
            "text": [f"item {k}" for k in range(n_items)],
            "image": [f"images/i{k:03d}.png" for k in range(n_items)],
            "category": ["A"] * n_items,
            "split": ["train"] * n_items,
        }
    )
    relations = pd.DataFrame(
        {
            "relation_id": np.arange(n_relations + 1, dtype=np.int32),
            "text": [INTRA_RELATION_TEXT] + [f"relation {r}" for r in range(1, n_relations + 1)],
            "kind": ["intra"] + ["inter"] * n_relations,
            "n_users": [0] + [10] * n_relations,
        }
    )
    e = pd.DataFrame(edges, columns=["src_idx", "dst_idx", "relation_id"])
    e["src"] = items["item_id"].to_numpy()[e["src_idx"]]
    e["dst"] = items["item_id"].to_numpy()[e["dst_idx"]]
    e["split"] = "train"
    e["support"] = 1
    manifest = Manifest("1.0", "fake", {"kind": "test"}, {}, {}, "0" * 64, "1970-01-01T00:00:00Z")
    return RelationalDataset(Path("/nonexistent"), manifest, items, relations, e, {}, {}, {})
