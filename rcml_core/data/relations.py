"""Relations from behaviour (paper appendix A.2): user profiles, clusters, co-purchase edges.

1. Each user's history becomes a distribution over profile categories (`user_profiles`).
   Only users with at least two distinct items are profiled: a single purchase forms no
   co-purchase pair, so such users cannot carry a relation.
2. scikit-learn KMeans groups the profiles into k clusters (`cluster_users`); cluster
   k becomes inter relation k + 1 (0 is the intra relation), clusters ordered by
   descending size.
3. Every pair of items bought by one user is an edge labelled with that user's
   relation (`co_purchase_edges`); at most `max_pairs_per_user` pairs per user (a
   seeded sample, so heavy users do not dominate); the support of (pair, relation) is
   the number of that cluster's users whose pairs include it.

All functions are pure: inputs in, frames/arrays out, determinism from `seed`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from rcml_core.errors import DataError

KMEANS_N_INIT = 10


@dataclass(frozen=True)
class UserProfiles:
    """Category distributions of the users that can co-purchase (>= 2 distinct items)."""

    user_ids: np.ndarray  # (U,) object, sorted
    categories: tuple[str, ...]  # (C,) sorted profile categories
    shares: np.ndarray  # (U, C) float64, rows sum to 1
    n_items: np.ndarray  # (U,) int64 distinct items per user


@dataclass(frozen=True)
class UserClusters:
    labels: np.ndarray  # (U,) int64 cluster of each profiled user, in [0, K)
    centroids: np.ndarray  # (K, C) float64 mean category shares of each cluster
    sizes: np.ndarray  # (K,) int64 users per cluster, non-increasing


def user_profiles(interactions: pd.DataFrame, item_category: pd.Series, min_items: int = 2) -> UserProfiles:
    """Per-user distribution over profile categories.

    interactions: distinct (user_id, item_id) rows; item_category: profile category
    indexed by item_id (every interacted item must be present).
    """
    cats = item_category.reindex(interactions["item_id"].to_numpy())
    if cats.isna().any():
        missing = interactions["item_id"].to_numpy()[cats.isna().to_numpy()][0]
        raise DataError(f"interaction item {missing!r} has no profile category")
    user_codes, user_ids = pd.factorize(interactions["user_id"], sort=True)
    cat_codes, categories = pd.factorize(cats, sort=True)
    n_users, n_cats = len(user_ids), len(categories)
    counts = np.bincount(user_codes * n_cats + cat_codes, minlength=n_users * n_cats)
    counts = counts.reshape(n_users, n_cats).astype(np.float64)  # (U_all, C)
    n_items = counts.sum(axis=1).astype(np.int64)  # (U_all,)
    keep = n_items >= min_items
    shares = counts[keep] / n_items[keep, None]  # (U, C)
    return UserProfiles(
        user_ids=np.asarray(user_ids, dtype=object)[keep],
        categories=tuple(str(c) for c in categories),
        shares=shares,
        n_items=n_items[keep],
    )


def cluster_users(profiles: UserProfiles, n_clusters: int, seed: int) -> UserClusters:
    """KMeans (k = n_clusters, n_init=10, random_state=seed) on the profile shares.

    Raises DataError when there are fewer distinct profiles than clusters (KMeans
    would return duplicate centres). Clusters are relabelled by descending size
    (ties: lexicographic centroid) so relation ids do not depend on KMeans' order.
    """
    n_users = len(profiles.user_ids)
    distinct = np.unique(np.round(profiles.shares, 12), axis=0).shape[0] if n_users else 0
    if distinct < n_clusters:
        raise DataError(
            f"n_clusters={n_clusters} but there are only {distinct} distinct user category profiles "
            f"among {n_users} users with >= 2 items; lower n_clusters or provide more interactions"
        )
    # One OpenMP thread: the problem is tiny (users x categories), and on a loaded 2-core
    # machine KMeans' thread pool spin-waits: measured 2.4 s vs 0.025 s for 300 users.
    with threadpool_limits(limits=1, user_api="openmp"):
        km = KMeans(n_clusters=n_clusters, n_init=KMEANS_N_INIT, random_state=seed).fit(profiles.shares)
    raw_labels = km.labels_.astype(np.int64)  # (U,)
    sizes = np.bincount(raw_labels, minlength=n_clusters)  # (K,)
    centres = km.cluster_centers_.astype(np.float64)  # (K, C)
    for k in range(n_clusters):  # the exact mean of the members (KMeans stops at tol)
        if sizes[k]:
            centres[k] = profiles.shares[raw_labels == k].mean(axis=0)
    order = sorted(range(n_clusters), key=lambda k: (-int(sizes[k]), tuple(-centres[k])))
    relabel = np.empty(n_clusters, dtype=np.int64)
    relabel[order] = np.arange(n_clusters)
    return UserClusters(labels=relabel[raw_labels], centroids=centres[order], sizes=sizes[order].astype(np.int64))


def pair_from_index(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode linear indices into the strict upper triangle of an n x n matrix.

    k: (P,) int64 in [0, n(n-1)/2), row-major order of `np.triu_indices(n, 1)`.
    Returns (i, j), each (P,) int64 with i < j. Avoids materialising all pairs of a
    heavy user when only a sample is needed.
    """
    k = np.asarray(k, dtype=np.int64)

    def row_start(i: np.ndarray) -> np.ndarray:  # index of (i, i + 1)
        return i * (2 * n - i - 1) // 2

    disc = float(2 * n - 1) ** 2 - 8.0 * k
    i = np.floor((2 * n - 1 - np.sqrt(disc)) / 2).astype(np.int64)
    i = np.clip(i, 0, n - 2)
    i = np.where(row_start(i) > k, i - 1, i)  # float rounding: at most one step off
    i = np.where(row_start(i + 1) <= k, i + 1, i)
    j = k - row_start(i) + i + 1
    return i, j


def _user_rng(seed: int, user_id: str) -> np.random.Generator:
    """A user's own stream: its sample does not change when other users come or go."""
    return np.random.default_rng([seed, zlib.crc32(user_id.encode("utf-8"))])


def co_purchase_edges(
    interactions: pd.DataFrame,
    user_relation: pd.Series,
    max_pairs_per_user: int,
    min_pair_support: int,
    seed: int,
    progress: bool = True,
) -> pd.DataFrame:
    """Edges (src, dst, relation_id, support) from co-purchases, src < dst in string order.

    interactions: distinct (user_id, item_id); user_relation: relation id per user_id
    (users absent from it contribute nothing). A user with n items has n(n-1)/2 pairs;
    above `max_pairs_per_user` a seeded sample of that many is kept. Rows with support
    < `min_pair_support` are dropped. Sorted by (src, dst, relation_id).
    """
    rel = user_relation.reindex(interactions["user_id"].to_numpy())
    inter = interactions[rel.notna().to_numpy()]
    rel_of_row = rel.dropna().to_numpy(dtype=np.int64)  # (I,)
    item_codes, item_ids = pd.factorize(inter["item_id"], sort=True)  # code order = string order
    user_codes, user_ids = pd.factorize(inter["user_id"], sort=True)
    order = np.lexsort((item_codes, user_codes))
    item_codes, user_codes, rel_of_row = item_codes[order], user_codes[order], rel_of_row[order]
    _, starts, lengths = np.unique(user_codes, return_index=True, return_counts=True)
    srcs: list[np.ndarray] = []
    dsts: list[np.ndarray] = []
    rels: list[np.ndarray] = []
    n_pairs = lengths * (lengths - 1) // 2
    small = (n_pairs > 0) & (n_pairs <= max_pairs_per_user)
    # Users with the same item count and all their pairs kept: one vectorised gather.
    for n in np.unique(lengths[small]):
        sel = small & (lengths == n)
        block = item_codes[starts[sel, None] + np.arange(n)]  # (U_n, n) item codes, ascending per row
        i, j = np.triu_indices(n, 1)  # (P,) each
        srcs.append(block[:, i].ravel())  # (U_n * P,)
        dsts.append(block[:, j].ravel())
        rels.append(np.repeat(rel_of_row[starts[sel]], len(i)))
    heavy = np.flatnonzero(n_pairs > max_pairs_per_user)
    for u in tqdm(heavy, desc="sample pairs of heavy users", unit="user", disable=not progress or len(heavy) < 100):
        n, s = int(lengths[u]), int(starts[u])
        rng = _user_rng(seed, str(user_ids[user_codes[s]]))
        k = np.sort(rng.choice(int(n_pairs[u]), size=max_pairs_per_user, replace=False))
        i, j = pair_from_index(k, n)
        items = item_codes[s : s + n]
        srcs.append(items[i])
        dsts.append(items[j])
        rels.append(np.full(len(i), rel_of_row[s], dtype=np.int64))
    if not srcs:
        return pd.DataFrame({"src": [], "dst": [], "relation_id": [], "support": []}).astype(
            {"src": str, "dst": str, "relation_id": np.int32, "support": np.int32}
        )
    src, dst, relation = np.concatenate(srcs), np.concatenate(dsts), np.concatenate(rels)
    n_items, n_rel = len(item_ids), int(relation.max()) + 1
    key = (src * n_items + dst) * n_rel + relation  # (E_raw,) one key per (pair, relation)
    uniq, support = np.unique(key, return_counts=True)
    keep = support >= min_pair_support
    uniq, support = uniq[keep], support[keep]
    relation = uniq % n_rel
    pair = uniq // n_rel
    ids = np.asarray(item_ids, dtype=object)
    return pd.DataFrame(
        {
            "src": ids[pair // n_items],
            "dst": ids[pair % n_items],
            "relation_id": relation.astype(np.int32),
            "support": support.astype(np.int32),
        }
    )
