"""Cluster bootstrap confidence intervals for means of per-query outcomes (docs/evaluation.md, "Uncertainty").

Retrieval queries are not independent: one unordered item pair {A, B} yields a query per direction
and per relation it carries, and those queries succeed or fail together. So the unit resampled is
the pair (the cluster), not the query: draw the distinct pairs with replacement, take every query
of each drawn pair, and recompute the mean; the 95 % interval is the 2.5th and 97.5th percentile of
those means (percentile bootstrap). Resampling queries as if independent would understate the width.

Vectorised: with S_c the (M,) sum of the outcomes of cluster c and n_c its number of queries, a
resample with multiplicities w (a (C,) count vector) has mean (w @ S) / (w @ n); a block of resamples
is one (b, C) @ (C, M) product. The resamples are seeded, so an interval is reproducible, and with the
same seed two scorers evaluated on the same queries are resampled identically (paired).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
_BLOCK_CELLS = 1 << 22  # resamples x clusters per block: bounds the weight matrix at 32 MiB


@dataclass(frozen=True)
class Interval:
    """Point estimates and their intervals for M statistics: each (M,)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n_queries: int
    n_clusters: int


def cluster_sums(values: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """values (Q, M), clusters (Q,) any integer labels -> per-cluster sums (C, M) and sizes (C,)."""
    _, inverse = np.unique(clusters, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_clusters = int(inverse.max()) + 1 if inverse.size else 0
    sums = np.zeros((n_clusters, values.shape[1]))
    np.add.at(sums, inverse, values)  # (C, M)
    return sums, np.bincount(inverse, minlength=n_clusters).astype(np.float64)


def resample_weights(n_clusters: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, C) multiplicities of the clusters in resamples drawn with replacement (rows sum to C)."""
    draws = rng.integers(0, n_clusters, size=(n_resamples, n_clusters))  # (b, C) drawn cluster ids
    offsets = (np.arange(n_resamples) * n_clusters)[:, None]  # (b, 1)
    counts = np.bincount((draws + offsets).ravel(), minlength=n_resamples * n_clusters)
    return counts.reshape(n_resamples, n_clusters).astype(np.float64)


def bootstrap_means(values: np.ndarray, clusters: np.ndarray, n_resamples: int = N_RESAMPLES,
                    seed: int = SEED) -> np.ndarray:
    """(n_resamples, M) means of `values` (Q, M) over cluster-bootstrap resamples of `clusters` (Q,)."""
    sums, sizes = cluster_sums(values, clusters)  # (C, M), (C,)
    n_clusters = len(sizes)
    rng = np.random.default_rng(seed)
    out = np.empty((n_resamples, values.shape[1]))
    block = max(1, _BLOCK_CELLS // max(n_clusters, 1))
    for start in range(0, n_resamples, block):
        w = resample_weights(n_clusters, min(block, n_resamples - start), rng)  # (b, C)
        out[start : start + len(w)] = (w @ sums) / (w @ sizes)[:, None]  # (b, M)
    return out


def cluster_bootstrap(values: np.ndarray, clusters: np.ndarray, n_resamples: int = N_RESAMPLES,
                      level: float = LEVEL, seed: int = SEED) -> Interval:
    """Means of per-query outcomes and their percentile intervals over resampled clusters.

    values: (Q,) or (Q, M) float outcomes (e.g. 0/1 hits, reciprocal ranks, expected hits);
    clusters: (Q,) integer cluster label of each query (its unordered item pair).
    With no query the means and bounds are NaN; with one cluster the interval is the point.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    clusters = np.asarray(clusters).reshape(-1)
    if values.ndim != 2 or len(values) != len(clusters):
        raise ValueError(f"values {values.shape} and clusters {clusters.shape} must have one row per query")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    n_clusters = len(np.unique(clusters))
    if len(values) == 0:
        nan = np.full(values.shape[1], np.nan)
        return Interval(nan, nan, nan, 0, 0)
    means = bootstrap_means(values, clusters, n_resamples, seed)  # (B, M)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail], axis=0)
    return Interval(values.mean(axis=0), low, high, len(values), n_clusters)
