import numpy as np
import pytest

from rcml_core.eval.metrics import positive_ranks, retrieval_metrics, topk_accuracy


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
    m = retrieval_metrics(scores, ks=(1, 5, 10))
    assert m["hit@1"] == pytest.approx(1 / 4)
    assert m["hit@5"] == pytest.approx(3 / 4)
    assert m["hit@10"] == pytest.approx(1.0)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 5 + 1 / 7) / 4)
    assert m["n_queries"] == 4


def test_ties_count_against_the_positive() -> None:
    # A model that scores every candidate the same must not get credit: rank = C.
    scores = np.zeros((2, 21))
    np.testing.assert_array_equal(positive_ranks(scores), [21, 21])
    assert retrieval_metrics(scores)["hit@5"] == 0.0


def test_nan_positive_ranks_last() -> None:
    scores = np.array([[np.nan, 0.1, 0.2]])
    assert positive_ranks(scores)[0] == 3


def test_topk_accuracy_counts_any_true_relation_in_top_k() -> None:
    scores = np.array([[0.9, 0.5, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4]])
    true = np.array([[False, False, True, False], [True, False, False, False]])
    assert topk_accuracy(scores, true, 1) == 0.0
    assert topk_accuracy(scores, true, 3) == 0.5  # row 0: class 2 is 3rd; row 1: class 0 is 4th
    assert topk_accuracy(scores, true, 4) == 1.0
