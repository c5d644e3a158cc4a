"""Cluster bootstrap: pairs are resampled, not queries; intervals are seeded, exact in small cases, cheap."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rcml_core.eval.bootstrap import bootstrap_means, cluster_bootstrap, resample_weights


def test_resample_weights_count_how_often_each_cluster_was_drawn() -> None:
    w = resample_weights(7, 500, np.random.default_rng(0))
    assert w.shape == (500, 7)
    np.testing.assert_array_equal(w.sum(axis=1), 7)  # each resample draws as many clusters as there are
    assert w.mean() == pytest.approx(1.0, abs=0.05)


def test_two_clusters_give_the_three_possible_resample_means_with_their_probabilities() -> None:
    # Pair A has two queries that both hit, pair B one query that misses. Resamples: {A, A} -> 1,
    # {B, B} -> 0, {A, B} -> 2/3, with probabilities 1/4, 1/4, 1/2.
    values = np.array([1.0, 1.0, 0.0])
    clusters = np.array([10, 10, 42])
    means = bootstrap_means(values[:, None], clusters, n_resamples=4000, seed=1)[:, 0]
    support, counts = np.unique(np.round(means, 6), return_counts=True)
    np.testing.assert_allclose(support, [0.0, 2 / 3, 1.0], atol=1e-6)
    np.testing.assert_allclose(counts / counts.sum(), [0.25, 0.5, 0.25], atol=0.03)
    ci = cluster_bootstrap(values, clusters)
    assert ci.mean[0] == pytest.approx(2 / 3) and ci.low[0] == 0.0 and ci.high[0] == 1.0
    assert (ci.n_queries, ci.n_clusters) == (3, 2)


def test_repeated_queries_of_one_pair_count_once() -> None:
    # 30 pairs, each asked 4 times (two directions x two relations) with the same outcome: the interval is
    # that of 30 independent outcomes, not of 120.
    rng = np.random.default_rng(3)
    per_pair = (rng.random(30) < 0.4).astype(float)
    repeated = np.repeat(per_pair, 4)
    clusters = np.repeat(np.arange(30), 4)
    by_pair = cluster_bootstrap(repeated, clusters, seed=5)
    once = cluster_bootstrap(per_pair, np.arange(30), seed=5)
    np.testing.assert_allclose([by_pair.low, by_pair.high], [once.low, once.high])
    naive = cluster_bootstrap(repeated, np.arange(120), seed=5)  # as if the 120 queries were independent
    assert (naive.high - naive.low)[0] < 0.7 * (by_pair.high - by_pair.low)[0]


def test_intervals_are_seeded_and_one_cluster_is_a_point() -> None:
    rng = np.random.default_rng(0)
    values, clusters = rng.random((200, 3)), rng.integers(0, 80, 200)
    a, b = cluster_bootstrap(values, clusters, seed=0), cluster_bootstrap(values, clusters, seed=0)
    np.testing.assert_array_equal(a.low, b.low)
    assert not np.array_equal(a.low, cluster_bootstrap(values, clusters, seed=1).low)
    assert np.all(a.low <= a.mean) and np.all(a.mean <= a.high)
    point = cluster_bootstrap(np.array([0.5, 1.0]), np.array([3, 3]))
    assert point.low[0] == point.high[0] == pytest.approx(0.75)
    empty = cluster_bootstrap(np.zeros(0), np.zeros(0, dtype=int))
    assert np.isnan(empty.mean[0]) and empty.n_queries == 0


def test_two_thousand_resamples_of_a_thousand_pairs_and_twenty_metrics_take_a_fraction_of_a_second() -> None:
    rng = np.random.default_rng(0)
    values = (rng.random((2500, 20)) < 0.5).astype(float)
    clusters = rng.integers(0, 1000, 2500)
    cluster_bootstrap(values, clusters)  # warm-up
    start = time.perf_counter()
    cluster_bootstrap(values, clusters)
    assert time.perf_counter() - start < 1.0  # typically ~0.1 s on a loaded 2-core machine
