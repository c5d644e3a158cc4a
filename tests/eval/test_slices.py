"""Per-relation slices: each relation's queries alone, with its own interval over its own pairs."""

from __future__ import annotations

import numpy as np
import pytest

from rcml_core.eval.results import QueryOutcomes
from rcml_core.eval.slices import relation_slices


def test_each_relation_gets_the_mean_and_counts_of_its_own_queries() -> None:
    pair = np.array([10, 10, 11, 12, 12, 13])
    hits = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    relation = np.array([1, 1, 1, 2, 2, 2])
    rows = relation_slices(QueryOutcomes(pair, {"hit@5_avg": hits}), relation, texts={1: "a", 2: "b"})
    assert [r["relation_id"] for r in rows] == [1, 2]
    first, second = rows
    assert first["mean"] == pytest.approx(2 / 3) and first["n_queries"] == 3 and first["n_pairs"] == 2
    assert second["mean"] == pytest.approx(1 / 3) and second["n_pairs"] == 2 and second["text"] == "b"
    assert first["ci_lo"] <= first["mean"] <= first["ci_hi"]


def test_relation_ids_must_match_the_queries() -> None:
    with pytest.raises(ValueError, match="2 relation ids for 3 query outcomes"):
        relation_slices(QueryOutcomes(np.arange(3), {"hit@5_avg": np.zeros(3)}), np.array([1, 2]))
