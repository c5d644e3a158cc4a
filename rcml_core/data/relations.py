"""Relations from behaviour (paper appendix A.2): user profiles, clusters, co-purchase edges.

1. Each user's history becomes a distribution over profile categories (`user_profiles`).
   Only users with at least two distinct items are profiled: a single purchase forms no
   co-purchase pair, so such users cannot carry a relation. When the items carry
   attributes (e.g. Amazon's `details`: colour, material) and the build asks for them,
   the profile also holds, per attribute, how much more often the user's items agree on
   it than chance (`attribute_agreement`): "keeps to one colour" is behaviour a cluster
   can be described by (docs/data-sources.md, "Relations from behaviour").
2. scikit-learn KMeans groups the profiles into k clusters (`cluster_users`); cluster
   k becomes inter relation k + 1 (0 is the intra relation), clusters ordered by
   descending size. The clustering can be fitted on one set of profiles (the users'
   train-split purchases) and applied to another (their whole history), so that no
   evaluation item shapes the relations.
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
    """Category distributions (and optional attribute agreement) of the users that can co-purchase."""

    user_ids: np.ndarray  # (U,) object, sorted
    categories: tuple[str, ...]  # (C,) sorted profile categories
    shares: np.ndarray  # (U, C) float64, rows sum to 1
    n_items: np.ndarray  # (U,) int64 distinct items per user
    attributes: tuple[str, ...] = ()  # (A,) attribute names of `agreement`'s columns
    agreement: np.ndarray | None = None  # (U, A) float64 chance-corrected agreement, <= 1 (see attribute_agreement)

    def features(self, behaviour_weight: float) -> np.ndarray:
        """(U, C + A) what KMeans clusters: the category shares, then the agreement times the weight."""
        if self.agreement is None or not self.attributes:
            return self.shares
        return np.concatenate([self.shares, behaviour_weight * self.agreement], axis=1)


@dataclass(frozen=True)
class UserClusters:
    labels: np.ndarray  # (U,) int64 cluster of each profiled user, in [0, K)
    centroids: np.ndarray  # (K, C) float64 mean category shares of each cluster (of the users it was fitted on)
    sizes: np.ndarray  # (K,) int64 users per cluster, non-increasing
    agreement: np.ndarray | None = None  # (K, A) mean attribute agreement of each cluster, when profiled


def user_profiles(
    interactions: pd.DataFrame,
    item_category: pd.Series,
    min_items: int = 2,
    item_attributes: pd.DataFrame | None = None,
    categories: tuple[str, ...] | None = None,
) -> UserProfiles:
    """Per-user distribution over profile categories (and attribute agreement).

    interactions: distinct (user_id, item_id) rows; item_category: profile category
    indexed by item_id (every interacted item must be present); item_attributes: one
    column per attribute, indexed by item_id, str values or NaN where unknown (None: no
    behaviour features); categories: the category axis to use (default: the sorted
    categories of these interactions; pass one to compare profiles of two subsets).
    """
    cats = item_category.reindex(interactions["item_id"].to_numpy())
    if cats.isna().any():
        missing = interactions["item_id"].to_numpy()[cats.isna().to_numpy()][0]
        raise DataError(f"interaction item {missing!r} has no profile category")
    user_codes, user_ids = pd.factorize(interactions["user_id"], sort=True)
    if categories is None:
        cat_codes, found = pd.factorize(cats, sort=True)
        categories = tuple(str(c) for c in found)
    else:
        cat_codes = pd.Index(categories).get_indexer(cats.to_numpy())
        if (cat_codes < 0).any():
            raise DataError(f"profile category {cats.to_numpy()[cat_codes < 0][0]!r} is not among {categories}")
    n_users, n_cats = len(user_ids), len(categories)
    counts = np.bincount(user_codes * n_cats + cat_codes, minlength=n_users * n_cats)
    counts = counts.reshape(n_users, n_cats).astype(np.float64)  # (U_all, C)
    n_items = counts.sum(axis=1).astype(np.int64)  # (U_all,)
    keep = n_items >= min_items
    agreement, attributes = None, ()
    if item_attributes is not None and len(item_attributes.columns):
        attributes = tuple(str(a) for a in item_attributes.columns)
        values = item_attributes.reindex(interactions["item_id"].to_numpy())
        agreement = np.stack([attribute_agreement(user_codes, n_users, values[a].to_numpy()) for a in attributes],
                             axis=1)[keep]  # (U, A)
    return UserProfiles(
        user_ids=np.asarray(user_ids, dtype=object)[keep],
        categories=categories,
        shares=counts[keep] / n_items[keep, None],
        n_items=n_items[keep],
        attributes=attributes,
        agreement=agreement,
    )


def attribute_agreement(user_codes: np.ndarray, n_users: int, values: np.ndarray) -> np.ndarray:
    """Chance-corrected agreement of each user's items on one attribute (Cohen's kappa style), (U_all,).

    user_codes: (I,) user of each interaction row; values: (I,) the item's value (NaN/None: unknown).
    observed = share of the user's item pairs (both values known) with equal values; expected = the
    same share for items drawn at random from all interactions' values, sum_v p_v^2; agreement =
    (observed - expected) / (1 - expected): 1 when every pair agrees, about 0 at chance. A user with
    fewer than two known values gets 0 (no evidence either way).
    """
    known = pd.notna(values)
    out = np.zeros(n_users)
    if known.sum() < 2:
        return out
    value_codes, _ = pd.factorize(pd.Series(values[known]).astype(str))
    n_values = int(value_codes.max()) + 1
    counts = np.bincount(user_codes[known] * n_values + value_codes, minlength=n_users * n_values)
    counts = counts.reshape(n_users, n_values).astype(np.float64)  # (U_all, V)
    m = counts.sum(axis=1)  # (U_all,) items with a known value
    pairs = m * (m - 1)
    observed = np.divide((counts**2).sum(axis=1) - m, pairs, out=np.zeros(n_users), where=pairs > 0)
    p = np.bincount(value_codes, minlength=n_values) / len(value_codes)  # (V,)
    expected = float((p**2).sum())
    if expected >= 1.0:  # one value only: agreement carries no information
        return out
    return np.where(pairs > 0, (observed - expected) / (1.0 - expected), 0.0)


def cluster_users(
    profiles: UserProfiles,
    n_clusters: int,
    seed: int,
    behaviour_weight: float = 1.0,
    fit_on: UserProfiles | None = None,
) -> UserClusters:
    """KMeans (k = n_clusters, n_init=10, random_state=seed) on the profiles' features.

    fit_on: the profiles KMeans is fitted on (default: `profiles`), on the same category and
    attribute axes, its users a subset of `profiles`'; they keep the cluster they were fitted into and
    every other user of `profiles` is assigned to its nearest centre. Centroids
    (shares and agreement) are the exact means of the fitted members: what the relation texts
    describe. Raises DataError when the fitted profiles have fewer distinct rows than clusters
    (KMeans would return duplicate centres). Clusters are relabelled by descending size among
    `profiles` (ties: fitted size, then lexicographic centroid), so relation ids do not depend on
    KMeans' order.
    """
    fit = profiles if fit_on is None else fit_on
    if fit.categories != profiles.categories or fit.attributes != profiles.attributes:
        raise ValueError("fit_on must have the same category and attribute axes as profiles")
    x_fit = fit.features(behaviour_weight)  # (U_fit, F)
    n_fit = len(fit.user_ids)
    distinct = np.unique(np.round(x_fit, 12), axis=0).shape[0] if n_fit else 0
    if distinct < n_clusters:
        raise DataError(
            f"n_clusters={n_clusters} but there are only {distinct} distinct user "
            f"{'category' if not fit.attributes else 'category and attribute'} profiles "
            f"among {n_fit} users with >= 2 items{' in the train split' if fit_on is not None else ''}; "
            "lower n_clusters or provide more interactions"
        )
    # One OpenMP thread: the problem is tiny (users x categories), and on a loaded 2-core
    # machine KMeans' thread pool spin-waits: measured 2.4 s vs 0.025 s for 300 users.
    with threadpool_limits(limits=1, user_api="openmp"):
        km = KMeans(n_clusters=n_clusters, n_init=KMEANS_N_INIT, random_state=seed).fit(x_fit)
        fit_labels = km.labels_.astype(np.int64)  # (U_fit,)
        raw_labels = fit_labels
        if fit_on is not None:  # fitted users keep their cluster; the others go to the nearest centre
            raw_labels = km.predict(profiles.features(behaviour_weight)).astype(np.int64)  # (U,)
            position = pd.Index(profiles.user_ids).get_indexer(fit.user_ids)  # (U_fit,)
            if (position < 0).any():
                raise ValueError("fit_on holds users that profiles does not")
            raw_labels[position] = fit_labels
    fit_sizes = np.bincount(fit_labels, minlength=n_clusters)  # (K,)
    sizes = np.bincount(raw_labels, minlength=n_clusters)  # (K,)
    centres = np.zeros((n_clusters, len(fit.categories)))  # (K, C)
    agreement = None if fit.agreement is None else np.zeros((n_clusters, len(fit.attributes)))  # (K, A)
    for k in range(n_clusters):  # the exact mean of the fitted members (KMeans stops at tol)
        members = fit_labels == k
        if members.any():
            centres[k] = fit.shares[members].mean(axis=0)
            if agreement is not None and fit.agreement is not None:
                agreement[k] = fit.agreement[members].mean(axis=0)
    order = sorted(range(n_clusters), key=lambda k: (-int(sizes[k]), -int(fit_sizes[k]), tuple(-centres[k])))
    relabel = np.empty(n_clusters, dtype=np.int64)
    relabel[order] = np.arange(n_clusters)
    return UserClusters(labels=relabel[raw_labels], centroids=centres[order], sizes=sizes[order].astype(np.int64),
                        agreement=None if agreement is None else agreement[order])


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
