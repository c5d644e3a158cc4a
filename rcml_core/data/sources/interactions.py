"""Interaction filtering shared by the real sources: de-duplication, top-N items, k-core.

An interactions frame has columns user_id, item_id (strings) and optionally timestamp
(int64, milliseconds since the epoch). These functions are pure: they return new frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rcml_core.config import check_range


@dataclass(frozen=True)
class InteractionFilter:
    """How raw interactions are thinned before the build.

    max_items: keep only the N most-interacted items (ties by item id), applied first;
    k_core: then drop users and items with fewer than k interactions, repeatedly, until
    every remaining user and item has at least k (k = 1 keeps everything).
    """

    k_core: int = 5
    max_items: int | None = None

    def __post_init__(self) -> None:
        check_range("k_core", self.k_core, 1, 10_000, integer=True)
        if self.max_items is not None:
            check_range("max_items", self.max_items, 2, integer=True, note="or unset")


@dataclass(frozen=True)
class FilterReport:
    """What each filtering step removed (interaction counts)."""

    n_in: int
    n_duplicates: int  # repeated (user, item) pairs merged into one
    n_dropped_max_items: int
    n_dropped_k_core: int
    k_core_rounds: int


def dedupe(interactions: pd.DataFrame) -> pd.DataFrame:
    """One row per (user_id, item_id): the earliest when there is a timestamp, else the first."""
    df = interactions
    if "timestamp" in df.columns:
        df = df.sort_values("timestamp", kind="stable")
    df = df.drop_duplicates(["user_id", "item_id"], keep="first")
    return df.sort_index().reset_index(drop=True)


def top_items(interactions: pd.DataFrame, max_items: int) -> pd.DataFrame:
    """Keep the interactions of the `max_items` items with the most interactions (ties: smaller id)."""
    counts = interactions["item_id"].value_counts()
    order = counts.rename("n").reset_index().sort_values(["n", "item_id"], ascending=[False, True], kind="stable")
    keep = set(order["item_id"].iloc[:max_items])
    return interactions[interactions["item_id"].isin(keep)].reset_index(drop=True)


def k_core(interactions: pd.DataFrame, k: int) -> tuple[pd.DataFrame, int]:
    """The k-core of the user-item graph: every user and item keeps >= k interactions.

    Returns (filtered frame, number of rounds that removed something). Assumes one row per
    (user, item) (see `dedupe`).
    """
    users, _ = pd.factorize(interactions["user_id"])  # (N,) int codes: bincount beats groupby on strings
    items, _ = pd.factorize(interactions["item_id"])  # (N,)
    alive = np.ones(len(interactions), dtype=bool)  # (N,)
    rounds = 0
    while True:
        user_n = np.bincount(users[alive], minlength=users.max(initial=-1) + 1)  # (n_users,)
        item_n = np.bincount(items[alive], minlength=items.max(initial=-1) + 1)  # (n_items,)
        keep = alive & (user_n[users] >= k) & (item_n[items] >= k)
        if keep.sum() == alive.sum():
            return interactions[alive].reset_index(drop=True), rounds
        alive = keep
        rounds += 1


def filter_interactions(interactions: pd.DataFrame, config: InteractionFilter) -> tuple[pd.DataFrame, FilterReport]:
    """dedupe, then top-N items, then k-core; reports how many interactions each step removed."""
    n_in = len(interactions)
    df = dedupe(interactions)
    n_dup = n_in - len(df)
    n_before = len(df)
    if config.max_items is not None:
        df = top_items(df, config.max_items)
    n_top = n_before - len(df)
    n_before = len(df)
    df, rounds = k_core(df, config.k_core)
    return df, FilterReport(n_in, n_dup, n_top, n_before - len(df), rounds)
