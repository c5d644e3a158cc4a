"""The three evaluation tasks on a hand-made embedder whose every score is worked out by hand below.

Unit vectors in 2-D (retrieval, training-free, validity) and 4-D (relation type); `s` is 1/sqrt(2).
Retrieval ranks count ties against the positive (rank = 1 + #greater + #tied); relation-type Top-k breaks
ties by relation index.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rcml_core.data.format.schema import RelationTypeSet, RetrievalSet, ValiditySet
from rcml_core.eval import keys
from rcml_core.eval.tasks import (
    relation_type_report,
    relation_type_scores,
    retrieval_outcomes,
    retrieval_scores,
    validity_features,
    validity_report,
)

S = 1 / math.sqrt(2)


class TableEmbedder:
    """Item `i` under relation `r`: `by_relation[(i, r)]` if given, else `base[i]`; each a (text, image) pair."""

    def __init__(self, base: dict[int, tuple[tuple[float, ...], tuple[float, ...]]],
                 relations: dict[int, tuple[float, ...]], by_relation: dict | None = None) -> None:
        self.base, self.relations, self.by_relation = base, relations, by_relation or {}

    def _vectors(self, item: int, relation: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self.by_relation.get((item, relation), self.base.get(item))

    def embed_pairs(self, items: np.ndarray, relations: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self._vectors(int(i), int(r)) for i, r in zip(items, relations)]
        return (torch.tensor([t for t, _ in rows], dtype=torch.float64),
                torch.tensor([v for _, v in rows], dtype=torch.float64))

    def embed(self, items: np.ndarray, relation: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embed_pairs(items, np.full(len(items), relation))

    def relation_vector(self, relation: int) -> torch.Tensor:
        return torch.tensor(self.relations[relation], dtype=torch.float64)


# item: (text, image)
ITEMS = {
    0: ((1.0, 0.0), (0.0, 1.0)),
    1: ((1.0, 0.0), (1.0, 0.0)),
    2: ((0.0, 1.0), (0.0, 1.0)),
    3: ((0.6, 0.8), (0.8, 0.6)),
}
RELATIONS = {1: (1.0, 0.0), 2: (0.0, 1.0)}
# query 1: A = 0 under relation 1, candidates [1 (positive), 2, 3]; query 2: A = 3 under relation 2, [0 (positive), 1, 2]
QUERIES = RetrievalSet("val", np.array([0, 3]), np.array([1, 2]), np.array([[1, 2, 3], [0, 1, 2]]))


def test_each_similarity_type_scores_its_own_modalities_and_ranks_the_positive_by_hand() -> None:
    scores = retrieval_scores(TableEmbedder(ITEMS, RELATIONS), QUERIES)
    # query 1, A = (t (1,0), i (0,1)):   TT A.t.c.t  II A.i.c.i  TI A.t.c.i  IT A.i.c.t
    #   c1 t (1,0)   i (1,0)             1           0           1           0
    #   c2 t (0,1)   i (0,1)             0           1           0           1
    #   c3 t (.6,.8) i (.8,.6)           .6          .6          .8          .8
    # AVG: A's mean (s,s); c1 (1,0), c2 (0,1), c3 (s,s): s, s, 1
    # query 2, A = (t (.6,.8), i (.8,.6)), its mean (s,s):
    #   c0 t (1,0)   i (0,1)             .6          .6          .8          .8          AVG (s,s): 1
    #   c1 t (1,0)   i (1,0)             .6          .8          .6          .8          AVG (1,0): s
    #   c2 t (0,1)   i (0,1)             .8          .6          .8          .6          AVG (0,1): s
    expected = {
        "tt": [[1, 0, .6], [.6, .6, .8]], "ii": [[0, 1, .6], [.6, .8, .6]], "ti": [[1, 0, .8], [.8, .6, .8]],
        "it": [[0, 1, .8], [.8, .8, .6]], "avg": [[S, S, 1], [1, S, S]],
    }
    for sim, want in expected.items():
        np.testing.assert_allclose(scores[sim], want, atol=1e-12, err_msg=sim)

    # ranks of the positive (column 0), ties against it:
    #   TT 1 and 3 (q2: .8 above, .6 tied); II 3 (two above) and 3 (.8 above, .6 tied); TI 1 and 2 (.8 tied);
    #   IT 3 and 2 (.8 tied); AVG 3 (1 above, s tied) and 1
    # Hit@1 = share of rank 1; Hit@5 = 1 (3 candidates); MRR = mean of 1/rank:
    want = {"tt": (1 / 2, (1 + 1 / 3) / 2), "ii": (0.0, 1 / 3), "ti": (1 / 2, (1 + 1 / 2) / 2),
            "it": (0.0, (1 / 3 + 1 / 2) / 2), "avg": (1 / 2, (1 / 3 + 1) / 2)}
    metrics = retrieval_outcomes(scores, QUERIES, n_items=4).report("val")
    for sim, (hit1, mrr) in want.items():
        assert metrics[keys.metric_key("val", "hit@1", sim)] == pytest.approx(hit1), sim
        assert metrics[keys.metric_key("val", "mrr", sim)] == pytest.approx(mrr), sim
        assert metrics[keys.metric_key("val", "hit@5", sim)] == 1.0
    assert metrics["val/mrr"] == pytest.approx(2 / 3) and "val/mrr_avg" not in metrics  # AVG has one name
    assert metrics["val/n_queries"] == 2 and metrics["val/n_pairs"] == 2  # pairs {0,1} and {0,3}


def test_the_training_free_score_projects_both_items_on_the_relation_by_hand() -> None:
    scores = retrieval_scores(TableEmbedder(ITEMS, RELATIONS), QUERIES, training_free=True)
    # (zA . r)(zB . r). Query 1, r = (1,0): A.t.r = 1, A.i.r = 0, A.avg.r = s;
    #   c.t.r: c1 1, c2 0, c3 .6;  c.i.r: c1 1, c2 0, c3 .8;  c.avg.r: c1 1, c2 0, c3 s
    # Query 2, r = (0,1): A.t.r = .8, A.i.r = .6, A.avg.r = s;
    #   c.t.r: c0 0, c1 0, c2 1;   c.i.r: c0 1, c1 0, c2 1;   c.avg.r: c0 s, c1 0, c2 1
    expected = {
        "tt": [[1, 0, .6], [0, 0, .8]],  # A.t.r * c.t.r
        "ii": [[0, 0, 0], [.6, 0, .6]],  # A.i.r * c.i.r: query 1's image is orthogonal to r, all tie
        "ti": [[1, 0, .8], [.8, 0, .8]],  # A.t.r * c.i.r
        "it": [[0, 0, 0], [0, 0, .6]],  # A.i.r * c.t.r
        "avg": [[S, 0, .5], [.5, 0, S]],  # A.avg.r * c.avg.r
    }
    for sim, want in expected.items():
        np.testing.assert_allclose(scores[sim], want, atol=1e-12, err_msg=sim)
    metrics = retrieval_outcomes(scores, QUERIES, n_items=4).report("val")
    # II: query 1 all tied (rank 3), query 2 tied with c2 (rank 2): MRR (1/3 + 1/2) / 2
    assert metrics["val/mrr_ii"] == pytest.approx(5 / 12)


def test_relation_type_top1_top3_and_chance_by_hand() -> None:
    e1, e2 = (1.0, 0.0, 0.0, 0.0), (0.0, 1.0, 0.0, 0.0)
    diag, minus = (S, S, 0.0, 0.0), (-1.0, 0.0, 0.0, 0.0)
    # item 0 is e1 under every relation; item 1 under relations 1..4: e1, diag, e2, -e1; item 2: e2, -e1, e1,
    # diag; item 3 is e2 everywhere. Text and image are the same vector, so all five similarities agree.
    per_rel = {1: (e1, diag, e2, minus), 2: (e2, minus, e1, diag)}
    by_relation = {(item, r + 1): (v, v) for item, vs in per_rel.items() for r, v in enumerate(vs)}
    embedder = TableEmbedder({0: (e1, e1), 3: (e2, e2)}, {}, by_relation)
    true = np.zeros((3, 4), dtype=bool)
    true[0, [1, 3]] = True  # pair (0, 1) carries relations 2 and 4
    true[1, 2] = True  # pair (0, 2) carries relation 3
    true[2, 3] = True  # pair (0, 3) carries relation 4
    pairs = RelationTypeSet("val", np.array([0, 0, 0]), np.array([1, 2, 3]), true)
    scores = relation_type_scores(embedder, pairs, np.array([1, 2, 3, 4]))
    # e1 . (item under r): pair (0,1) [1, s, 0, -1]; pair (0,2) [0, -1, 1, s]; pair (0,3) [0, 0, 0, 0]
    for sim in ("tt", "ii", "ti", "it", "avg"):
        np.testing.assert_allclose(scores[sim], [[1, S, 0, -1], [0, -1, 1, S], [0, 0, 0, 0]], atol=1e-12)
    report = relation_type_report(scores, true, "val/")
    # Top-1: (0,1) picks relation 1 (miss), (0,2) relation 3 (hit), (0,3) all tie -> relation 1 (miss): 1/3
    # Top-3: (0,1) {1, 2, 3} holds 2 (hit), (0,2) {3, 4, 1} (hit), (0,3) ties -> {1, 2, 3}, not 4 (miss): 2/3
    assert report["val/rtype_top1_avg"] == pytest.approx(1 / 3)
    assert report["val/rtype_top3_tt"] == pytest.approx(2 / 3)
    # chance of Top-3 among 4: P(miss) with 2 true = 2/4 * 1/3 * 0/2 = 0; with 1 true = 3/4 * 2/3 * 1/2 = 1/4
    # mean over the pairs of 1 - P(miss): (1 + 3/4 + 3/4) / 3 = 5/6
    assert report["val/rtype_random_top3"] == pytest.approx(5 / 6)
    assert report["val/n_rtype_pairs"] == 3


def test_validity_features_are_text_and_image_of_both_items_then_the_relation() -> None:
    embedder = TableEmbedder(ITEMS, RELATIONS)
    instances = ValiditySet("val", np.array([0, 3]), np.array([2, 1]), np.array([2, 1]), np.array([1, 0]))
    np.testing.assert_array_equal(validity_features(embedder, instances), [
        [1, 0, 0, 1, 0, 1, 0, 1, 0, 1],  # t0, i0, t2, i2, r2
        [.6, .8, .8, .6, 1, 0, 1, 0, 1, 0],  # t3, i3, t1, i1, r1
    ])


def test_the_validity_probe_learns_the_rule_and_its_accuracy_counts_the_test_labels_it_gets_right() -> None:
    # Every instance asks about A = 0; the label is 1 exactly when B's text is (1,0) (item 1), 0 when it is
    # (0,1) (item 2): one feature separates the train instances, the others are constant.
    embedder = TableEmbedder(ITEMS, RELATIONS)
    train = ValiditySet("train", np.zeros(8, dtype=np.int64), np.array([1, 2] * 4), np.ones(8, dtype=np.int64),
                        np.array([1, 0] * 4))
    # test: three instances labelled by the rule, the fourth labelled against it -> accuracy 3/4
    test = ValiditySet("val", np.zeros(4, dtype=np.int64), np.array([1, 2, 1, 2]), np.ones(4, dtype=np.int64),
                       np.array([1, 0, 1, 1]))
    report = validity_report(embedder, train, embedder, test, "val/")
    assert report["val/validity_acc"] == pytest.approx(3 / 4)
    assert report["val/n_validity"] == 4
