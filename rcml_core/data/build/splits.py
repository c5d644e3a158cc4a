"""Item-disjoint splits (paper 4.1: "both product pairs and individual products are strictly separated").

Every item is assigned to exactly one split by a seeded permutation of the sorted item
ids (so the assignment depends on the set of ids and the seed, not the input order);
an edge is kept only when both endpoints are in the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rcml_core.data.format.schema import EVAL_SPLITS, SPLITS
from rcml_core.errors import DataError


def split_sizes(n_items: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """(train, val, test) item counts: val and test rounded, train takes the rest."""
    n_val = int(round(n_items * fractions[1]))
    n_test = int(round(n_items * fractions[2]))
    return n_items - n_val - n_test, n_val, n_test


def assign_splits(item_ids: pd.Series, fractions: tuple[float, float, float], seed: int) -> pd.Series:
    """Split name per item (index = item_id), deterministic for (set of ids, fractions, seed)."""
    ids = np.array(sorted(item_ids.astype(str)), dtype=object)  # (N,)
    perm = np.random.default_rng(seed).permutation(len(ids))  # (N,)
    n_train, n_val, _ = split_sizes(len(ids), fractions)
    names = np.empty(len(ids), dtype=object)
    names[perm[:n_train]] = "train"
    names[perm[n_train : n_train + n_val]] = "val"
    names[perm[n_train + n_val :]] = "test"
    return pd.Series(names, index=pd.Index(ids, name="item_id"), name="split")


@dataclass(frozen=True)
class SplitEdges:
    edges: pd.DataFrame  # input edge columns plus "split"; only edges inside one split
    cross_split_dropped: int  # (pair, relation) rows whose endpoints lie in different splits


def keep_within_split(edges: pd.DataFrame, split_of: pd.Series) -> SplitEdges:
    """Keep edges whose endpoints share a split; tag them with it."""
    s = split_of.reindex(edges["src"].to_numpy()).to_numpy()
    d = split_of.reindex(edges["dst"].to_numpy()).to_numpy()
    same = s == d
    kept = edges[same].copy()
    kept["split"] = s[same]
    return SplitEdges(edges=kept.reset_index(drop=True), cross_split_dropped=int((~same).sum()))


def require_usable_splits(split_of: pd.Series, edges: pd.DataFrame, n_negatives: int) -> None:
    """DataError unless train has >= 2 items and an edge, and each eval split has
    >= n_negatives + 2 items (a query, its positive and n_negatives unrelated items) and an edge."""
    n_items = split_of.value_counts()
    n_edges = edges["split"].value_counts()
    for split in SPLITS:
        need = n_negatives + 2 if split in EVAL_SPLITS else 2
        have = int(n_items.get(split, 0))
        if have < need:
            raise DataError(
                f"split {split!r} has {have} items but needs at least {need}"
                + (f" (n_negatives={n_negatives} + a query and its positive)" if split in EVAL_SPLITS else "")
                + f"; {len(split_of)} valid items in all: add items or change split_fractions/n_negatives"
            )
        if int(n_edges.get(split, 0)) < 1:
            raise DataError(
                f"split {split!r} has 0 edges inside it (needs at least 1); "
                "add interactions, lower min_pair_support or change split_fractions"
            )
