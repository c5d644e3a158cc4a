"""Item-disjoint splits and the fixed evaluation sets, on hand-made graphs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcml_core.data.build.evalsets import SplitGraph, relation_type_set, retrieval_set, validity_set
from rcml_core.data.build.splits import assign_splits, keep_within_split, require_usable_splits, split_sizes
from rcml_core.errors import DataError


def test_split_sizes_round_val_and_test_and_give_train_the_rest() -> None:
    assert split_sizes(101, (0.8, 0.1, 0.1)) == (81, 10, 10)
    assert split_sizes(7, (0.6, 0.2, 0.2)) == (5, 1, 1)


def test_assignment_depends_on_the_id_set_and_seed_not_on_input_order() -> None:
    ids = pd.Series([f"x{i}" for i in range(50)])
    a = assign_splits(ids, (0.6, 0.2, 0.2), seed=1)
    b = assign_splits(ids.sample(frac=1.0, random_state=0), (0.6, 0.2, 0.2), seed=1)
    c = assign_splits(ids, (0.6, 0.2, 0.2), seed=2)
    assert a.equals(b) and not a.equals(c)
    assert a.value_counts().to_dict() == {"train": 30, "val": 10, "test": 10}
    assert a.index.is_unique and set(a.index) == set(ids)


def test_edges_across_splits_are_dropped_and_counted() -> None:
    split_of = pd.Series({"a": "train", "b": "train", "c": "val", "d": "val"})
    edges = pd.DataFrame({"src": ["a", "a", "c", "b"], "dst": ["b", "c", "d", "d"], "relation_id": [1, 1, 2, 2], "support": [1] * 4})
    kept = keep_within_split(edges, split_of)
    assert kept.edges[["src", "dst", "split"]].values.tolist() == [["a", "b", "train"], ["c", "d", "val"]]
    assert kept.cross_split_dropped == 2


def test_a_split_without_edges_is_an_error_naming_it() -> None:
    split_of = pd.Series({f"i{k}": s for k, s in enumerate(["train"] * 4 + ["val"] * 5 + ["test"] * 5)})
    edges = pd.DataFrame({"src": ["i0", "i4"], "dst": ["i1", "i5"], "relation_id": [1, 1], "split": ["train", "val"]})
    with pytest.raises(DataError, match="split 'test' has 0 edges inside it"):
        require_usable_splits(split_of, edges, n_negatives=3)


def _graph() -> SplitGraph:
    """Items a..h; a relates to b (rel 1, 2) and c (rel 1); d - e (rel 2)."""
    edges = pd.DataFrame({"src": ["a", "a", "a", "d"], "dst": ["b", "b", "c", "e"], "relation_id": [1, 2, 1, 2]})
    return SplitGraph.from_frames(np.array(list("hgfedcba"), dtype=object), edges)


def test_retrieval_queries_cover_both_directions_with_unrelated_distinct_negatives() -> None:
    g = _graph()
    frame, dropped = retrieval_set(g, n_negatives=4, max_queries=100, rng=np.random.default_rng(0))
    assert dropped == 0 and len(frame) == 8
    assert set(zip(frame["src"], frame["dst"], frame["relation_id"])) == {
        ("a", "b", 1), ("b", "a", 1), ("a", "b", 2), ("b", "a", 2), ("a", "c", 1), ("c", "a", 1), ("d", "e", 2), ("e", "d", 2)
    }  # fmt: skip
    related = {"a": {"b", "c"}, "b": {"a"}, "c": {"a"}, "d": {"e"}, "e": {"d"}}
    for a, b, negs in zip(frame["src"], frame["dst"], frame["negatives"]):
        assert len(set(negs)) == 4 and a not in negs and b not in negs
        assert not related[a].intersection(negs)


def test_queries_whose_item_has_too_few_unrelated_items_are_dropped_and_counted() -> None:
    frame, dropped = retrieval_set(_graph(), n_negatives=6, max_queries=100, rng=np.random.default_rng(0))
    # a has 8 - 1 - 2 = 5 unrelated items (< 6): its 3 queries go; b, c, d, e have 6.
    assert dropped == 3 and "a" not in set(frame["src"]) and len(frame) == 5


def test_retrieval_is_subsampled_to_the_query_cap_deterministically() -> None:
    a, _ = retrieval_set(_graph(), 3, max_queries=5, rng=np.random.default_rng(9))
    b, _ = retrieval_set(_graph(), 3, max_queries=5, rng=np.random.default_rng(9))
    assert len(a) == 5 and a.equals(b) and a["query_id"].tolist() == [0, 1, 2, 3, 4]


def test_relation_type_pairs_list_every_relation_of_the_pair() -> None:
    frame = relation_type_set(_graph(), max_pairs=100, rng=np.random.default_rng(0))
    assert [(s, d, list(r)) for s, d, r in zip(frame["src"], frame["dst"], frame["relation_ids"])] == [
        ("a", "b", [1, 2]), ("a", "c", [1]), ("d", "e", [2])
    ]  # fmt: skip


def test_validity_negatives_are_half_missing_relations_half_unrelated_pairs_and_labels_balance() -> None:
    g = _graph()
    frame = validity_set(g, np.array([1, 2, 3]), max_instances=100, rng=np.random.default_rng(0))
    edges = {("a", "b", 1), ("a", "b", 2), ("a", "c", 1), ("d", "e", 2)}
    pairs = {(s, d) for s, d, _ in edges}
    assert (frame["label"] == 1).sum() == (frame["label"] == 0).sum() == 4
    rows = list(zip(frame["src"], frame["dst"], frame["relation_id"], frame["label"]))
    assert all(((s, d, r) in edges) == (lab == 1) for s, d, r, lab in rows)
    negatives = [(s, d, r) for s, d, r, lab in rows if lab == 0]
    assert sum((s, d) in pairs for s, d, _ in negatives) == 2  # related pair, a relation it lacks
    assert sum((s, d) not in pairs and s < d for s, d, _ in negatives) == 2  # unrelated pair
    assert len(set(negatives)) == 4


def test_missing_relation_negatives_are_sampled_uniformly_without_repeats() -> None:
    from rcml_core.data.build.evalsets import _pick_missing

    carries = np.array([[True, False, False], [True, True, True], [False, True, False]])  # 4 False cells
    n_missing = 3 - carries.sum(axis=1)
    pair, col = _pick_missing(carries, n_missing, 4, np.random.default_rng(0))
    assert sorted(zip(pair.tolist(), col.tolist())) == [(0, 1), (0, 2), (2, 0), (2, 2)]
    seen = {tuple(zip(*_pick_missing(carries, n_missing, 1, np.random.default_rng(s)))) for s in range(60)}
    assert len(seen) == 4  # every cell can be drawn
