"""A hand-made RelationalDataset for the evaluation tests: categories of two depths, train edges, fixed queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rcml_core.data.schema import INTRA_RELATION_TEXT, Manifest, RelationalDataset, RetrievalSet

# item index -> (category, split)
ITEMS = [
    ("X > a", "train"), ("X > a", "train"), ("X > b", "train"),  # 0, 1, 2
    ("Y > c", "train"), ("Y > c", "train"), ("Y > d", "train"),  # 3, 4, 5
    ("X > a", "val"), ("X > b", "val"), ("Y > c", "val"), ("Y > d", "val"),  # 6, 7, 8, 9
    ("Z > e", "val"), ("X > q", "val"), ("Y > d", "val"),  # 10 (top level unseen), 11 (leaf unseen), 12
]
# (src, dst, relation, split); only the train edges may be read by a reference scorer
EDGES = [(0, 2, 1, "train"), (1, 2, 1, "train"), (0, 3, 2, "train"), (3, 4, 1, "train"), (4, 5, 2, "train"),
         (6, 9, 1, "val"), (8, 9, 2, "val")]


def dataset(queries: list[tuple[int, int, list[int]]], edges=EDGES) -> RelationalDataset:
    """The catalog with val retrieval queries given as (src, relation, [positive, negatives...])."""
    items = pd.DataFrame({
        "item_id": [f"i{k:02d}" for k in range(len(ITEMS))],
        "text": [f"item {k}" for k in range(len(ITEMS))],
        "image": [f"images/i{k:02d}.png" for k in range(len(ITEMS))],
        "category": [c for c, _ in ITEMS],
        "split": [s for _, s in ITEMS],
    })
    relations = pd.DataFrame({"relation_id": np.arange(3, dtype=np.int32),
                              "text": [INTRA_RELATION_TEXT, "relation one", "relation two"],
                              "kind": ["intra", "inter", "inter"], "n_users": [0, 5, 5]})
    e = pd.DataFrame(edges, columns=["src_idx", "dst_idx", "relation_id", "split"])
    e["src"] = items["item_id"].to_numpy()[e["src_idx"]]
    e["dst"] = items["item_id"].to_numpy()[e["dst_idx"]]
    e["support"] = 1
    retrieval = {"val": RetrievalSet("val", np.array([q[0] for q in queries], dtype=np.int64),
                                     np.array([q[1] for q in queries], dtype=np.int64),
                                     np.array([q[2] for q in queries], dtype=np.int64))}
    manifest = Manifest("1.0", "hand", {"kind": "test"}, {}, {}, "0" * 64, "1970-01-01T00:00:00Z")
    return RelationalDataset(Path("/nonexistent"), manifest, items, relations, e, retrieval, {}, {})
