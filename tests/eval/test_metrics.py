import numpy as np
import pytest

from rcml_core.eval.metrics import (
    expected_hit_at_k,
    expected_reciprocal_rank,
    positive_ranks,
    rank_outcomes,
    tie_aware_outcomes,
    tie_counts,
    topk_accuracy,
)


def test_known_ranks_give_known_hit_at_5_and_mrr() -> None:
    # Four queries, 7 candidates each, positive in column 0, built so the positive ranks 1, 3, 5 and 7.
    scores = np.array(
        [
            [0.9, 0.1, 0.2, 0.3, 0.0, 0.0, 0.0],  # rank 1
            [0.5, 0.6, 0.7, 0.1, 0.0, 0.0, 0.0],  # rank 3
            [0.5, 0.6, 0.7, 0.8, 0.9, 0.1, 0.0],  # rank 5
            [0.0, 0.6, 0.7, 0.8, 0.9, 0.1, 0.2],  # rank 7
        ]
    )
    np.testing.assert_array_equal(positive_ranks(scores), [1, 3, 5, 7])
    m = {name: outcome.mean() for name, outcome in rank_outcomes(positive_ranks(scores), ks=(1, 5, 10)).items()}
    assert m["hit@1"] == pytest.approx(1 / 4)
    assert m["hit@5"] == pytest.approx(3 / 4)
    assert m["hit@10"] == pytest.approx(1.0)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 5 + 1 / 7) / 4)


def test_ties_count_against_the_positive() -> None:
    # A model that scores every candidate the same must not get credit: rank = C.
    scores = np.zeros((2, 21))
    np.testing.assert_array_equal(positive_ranks(scores), [21, 21])
    assert rank_outcomes(positive_ranks(scores))["hit@5"].sum() == 0.0


def test_nan_positive_ranks_last() -> None:
    scores = np.array([[np.nan, 0.1, 0.2]])
    assert positive_ranks(scores)[0] == 3


def test_topk_accuracy_counts_any_true_relation_in_top_k() -> None:
    scores = np.array([[0.9, 0.5, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])
    true = np.array([[False, False, True, False], [True, False, False, False]])
    assert topk_accuracy(scores, true, 1) == 0.0
    assert topk_accuracy(scores, true, 3) == 0.5  # row 0: class 2 is 3rd; row 1: class 0 is 4th
    assert topk_accuracy(scores, true, 4) == 1.0


# ---- ties under uniform random tie-breaking (the reference scorers' rule) ------------------------------


def test_tie_counts_split_negatives_into_above_and_level_with_the_positive() -> None:
    scores = np.array([[2.0, 3.0, 2.0, 2.0, 1.0], [np.nan, 0.0, np.nan, 1.0, np.nan]])
    greater, tied = tie_counts(scores)
    np.testing.assert_array_equal(greater, [1, 2])  # NaN is the worst: finite negatives beat a NaN positive
    np.testing.assert_array_equal(tied, [2, 2])
    np.testing.assert_array_equal(positive_ranks(scores), [4, 5])  # the models' rule: ties count against


def test_expected_hit_is_the_chance_the_positive_lands_within_k_among_its_ties() -> None:
    # 2 negatives above, 3 tied: the positive's rank is uniform on {3, 4, 5, 6}.
    assert expected_hit_at_k(np.array([2]), np.array([3]), 5)[0] == pytest.approx(3 / 4)
    assert expected_hit_at_k(np.array([2]), np.array([3]), 2)[0] == 0.0
    assert expected_hit_at_k(np.array([2]), np.array([3]), 6)[0] == 1.0
    # a scorer that ties all 21 candidates is at chance, 5/21, not at 0 as the pessimistic rule says
    assert expected_hit_at_k(np.array([0]), np.array([20]), 5)[0] == pytest.approx(5 / 21)
    assert expected_hit_at_k(np.array([0]), np.array([0]), 1)[0] == 1.0


def test_expected_reciprocal_rank_averages_over_the_tied_places() -> None:
    got = expected_reciprocal_rank(np.array([2, 0, 4]), np.array([3, 0, 0]))
    np.testing.assert_allclose(got, [(1 / 3 + 1 / 4 + 1 / 5 + 1 / 6) / 4, 1.0, 1 / 5])
    everything_tied = expected_reciprocal_rank(np.array([0]), np.array([20]))[0]
    assert everything_tied == pytest.approx(sum(1 / r for r in range(1, 22)) / 21)


def test_without_ties_the_tie_aware_outcomes_equal_the_rank_outcomes() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 21))
    greater, tied = tie_counts(scores)
    assert not tied.any()
    aware = tie_aware_outcomes(greater, tied)
    exact = rank_outcomes(positive_ranks(scores))
    for name in exact:
        np.testing.assert_allclose(aware[name], exact[name])
