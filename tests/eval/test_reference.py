"""Model-free reference scorers: train edges only, hierarchical categories with backoff, exact expected ties.

Train edges of the hand-made catalog (tests/eval/catalog.py), by leaf category pair:
  (X>a, X>b) x2 under relation 1, (X>a, Y>c) x1 under 2, (Y>c, Y>c) x1 under 1, (Y>c, Y>d) x1 under 2.
Endpoints per leaf: X>a 3, X>b 2, Y>c 4, Y>d 1; per top level: X 5, Y 5.
"""

from __future__ import annotations

import numpy as np
import pytest

from rcml_core.eval.reference import category_levels, fit_reference, reference_result
from tests.eval.catalog import EDGES, dataset


def test_category_levels_give_one_code_per_depth_and_shallow_paths_keep_their_full_path() -> None:
    codes = category_levels(["A > B > C", "A>B", "A", "D", " A > B > C "])
    assert codes.shape == (5, 3)
    assert codes[0, 0] == codes[1, 0] == codes[2, 0] != codes[3, 0]  # depth 1: A, A, A, D
    assert codes[0, 1] == codes[1, 1] != codes[2, 1]  # depth 2: A>B, A>B, A (a one-level path)
    assert len({codes[i, 2] for i in range(4)}) == 4  # depth 3: A>B>C, A>B, A, D
    np.testing.assert_array_equal(codes[0], codes[4])  # spaces around the separator do not matter
    assert len(set(codes[:, 0]) & set(codes[:, 1])) == 0  # codes never collide across depths


def _metrics(queries, scorer: str) -> dict[str, float]:
    result = reference_result(dataset(queries), dataset(queries).retrieval["val"])
    return {k.removeprefix(f"val/ref_{scorer}_"): v for k, v in result.metrics.items()
            if k.startswith(f"val/ref_{scorer}_")}


def test_the_relation_scorer_reads_the_pair_under_the_querys_relation() -> None:
    # A = 6 (X>a) under relation 2, positive 8 (Y>c). Under relation 2 only (X>a, Y>c) has an edge: rank 1.
    # Ignoring the relation, (X>a, X>b) has 2 edges against 1: candidate 7 ranks above the positive.
    queries = [(6, 2, [8, 7, 9, 11])]
    assert _metrics(queries, "catrel")["hit@1"] == 1.0
    cat = _metrics(queries, "cat")
    assert cat["hit@1"] == 0.0 and cat["mrr"] == pytest.approx(1 / 2)


def test_a_category_without_support_backs_off_to_the_coarser_level_then_to_the_less_specific_scorer() -> None:
    # A = 11 (X>q: the leaf has no train edge; X does), relation 1, positive 7 (X>b), negatives 6 (X>a), 8, 9.
    # Leaf level: all 0. Top level under relation 1: (X, X) = 2 for 7 and 6, (X, Y) = 0 for 8 and 9.
    # 7 and 6 still tie on the pair counts; popularity breaks it: leaf X>a (3 endpoints) > X>b (2): rank 2.
    queries = [(11, 1, [7, 6, 8, 9])]
    assert _metrics(queries, "catrel")["mrr"] == pytest.approx(1 / 2)
    # A = 10 (Z>e: never seen at any level): every pair count is 0, popularity decides; Y>c (4) is the most
    # popular leaf, so the positive 8 ranks first for all three scorers.
    queries = [(10, 1, [8, 7, 9, 6])]
    for scorer in ("pop", "cat", "catrel"):
        assert _metrics(queries, scorer)["hit@1"] == 1.0


def test_remaining_ties_are_scored_in_expectation_under_random_tie_breaking() -> None:
    # A = 10 (no support), positive 9 (Y>d: 1 endpoint), negatives 12 (Y>d: ties), 7 (X>b: 2), 8 (Y>c: 4).
    # Two negatives above, one tied: the rank is 3 or 4 with probability 1/2 each.
    queries = [(10, 2, [9, 12, 7, 8])]
    m = _metrics(queries, "pop")
    assert m["hit@1"] == 0.0 and m["hit@5"] == 1.0
    assert m["mrr"] == pytest.approx((1 / 3 + 1 / 4) / 2)
    assert m["n_queries"] == 1 and m["n_pairs"] == 1


def test_only_train_edges_are_counted() -> None:
    queries = [(6, 1, [7, 8, 9, 11]), (6, 2, [8, 7, 9, 11]), (10, 2, [9, 12, 7, 8])]
    base = reference_result(dataset(queries), dataset(queries).retrieval["val"]).metrics
    more_held_out = EDGES + [(6, 8, 1, "val"), (7, 9, 2, "val"), (6, 11, 1, "val")]
    other = reference_result(dataset(queries, more_held_out), dataset(queries).retrieval["val"]).metrics
    assert base == other
    assert fit_reference(dataset(queries)).n_train_edges == 5


def test_every_reference_metric_carries_an_interval_over_pairs_and_the_counts() -> None:
    # Both directions of the pair {6, 9} are one cluster.
    queries = [(6, 1, [9, 7, 8, 11]), (9, 1, [6, 7, 8, 11]), (6, 2, [8, 7, 9, 11])]
    result = reference_result(dataset(queries), dataset(queries).retrieval["val"])
    for scorer in ("pop", "cat", "catrel"):
        for metric in ("hit@1", "hit@5", "hit@10", "mrr"):
            key = f"val/ref_{scorer}_{metric}"
            assert result.metrics[f"{key}_ci_lo"] <= result.metrics[key] <= result.metrics[f"{key}_ci_hi"]
        assert result.metrics[f"val/ref_{scorer}_n_queries"] == 3
        assert result.metrics[f"val/ref_{scorer}_n_pairs"] == 2
        assert len(result.outcomes[f"ref_{scorer}_"]) == 3
