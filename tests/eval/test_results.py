"""EvalResult and tables over seeds: every Hit@k / MRR with its interval and counts; seeds pooled per query."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rcml_core.eval.bootstrap import cluster_bootstrap
from rcml_core.eval.results import EvalResult, QueryOutcomes, pair_clusters, pool_seeds, seed_table


def test_both_directions_and_every_relation_of_a_pair_share_one_cluster() -> None:
    src, dst = np.array([3, 7, 3, 3]), np.array([7, 3, 7, 8])  # (3,r1,7), (7,r1,3), (3,r2,7), (3,r1,8)
    c = pair_clusters(src, dst, n_items=10)
    assert c[0] == c[1] == c[2] != c[3]


def _outcomes(hits: list[float], pairs: list[int]) -> QueryOutcomes:
    hits_ = np.array(hits)
    return QueryOutcomes(pair=np.array(pairs), values={"hit@5_tt": hits_, "hit@5_avg": hits_ / 2, "mrr_avg": hits_})


def test_a_report_gives_each_outcomes_mean_interval_and_counts_with_avg_written_once_without_suffix() -> None:
    o = _outcomes([1, 0, 1, 1], [5, 5, 6, 7])
    m = o.report("test", "free_")
    assert m["test/free_hit@5_tt"] == 0.75 and m["test/free_hit@5"] == 0.375
    assert not any(k.startswith("test/free_hit@5_avg") for k in m)  # one name per number
    assert m["test/free_mrr"] == 0.75
    ci = cluster_bootstrap(np.array([1, 0, 1, 1.0]), np.array([5, 5, 6, 7]))
    assert (m["test/free_hit@5_tt_ci_lo"], m["test/free_hit@5_tt_ci_hi"]) == (ci.low[0], ci.high[0])
    assert m["test/free_hit@5_ci_lo"] <= m["test/free_hit@5"] <= m["test/free_hit@5_ci_hi"]
    assert m["test/free_n_queries"] == 4 and m["test/free_n_pairs"] == 3


def test_pooling_over_seeds_averages_each_querys_outcome() -> None:
    a, b = _outcomes([1, 0, 1, 1], [5, 5, 6, 7]), _outcomes([0, 0, 1, 0], [5, 5, 6, 7])
    pooled = pool_seeds([a, b])
    np.testing.assert_allclose(pooled.values["hit@5_tt"], [0.5, 0, 1, 0.5])
    with pytest.raises(ValueError, match="different queries"):
        pool_seeds([a, _outcomes([1, 0, 1], [5, 5, 6])])


def test_a_table_over_seeds_has_mean_std_pooled_interval_and_counts() -> None:
    a, b = _outcomes([1, 0, 1, 1], [5, 5, 6, 7]), _outcomes([0, 0, 1, 0], [5, 5, 6, 7])
    results = [EvalResult("test", {**o.report("test"), "test/validity_acc": acc}, {"": o})
               for o, acc in ((a, 0.8), (b, 0.6))]
    table = seed_table(results)
    assert table["test/hit@5_tt"] == pytest.approx((0.75 + 0.25) / 2)
    assert table["test/hit@5_tt_std"] == pytest.approx(np.std([0.75, 0.25], ddof=1))
    assert table["test/validity_acc"] == pytest.approx(0.7) and table["test/validity_acc_std"] > 0
    pooled = pool_seeds([a, b]).report("test")
    assert table["test/hit@5_tt_ci_lo"] == pooled["test/hit@5_tt_ci_lo"]
    assert table["test/hit@5_tt_ci_hi"] == pooled["test/hit@5_tt_ci_hi"]
    assert table["test/n_queries"] == 4 and table["test/n_pairs"] == 3 and table["test/n_seeds"] == 2
    assert "test/n_queries_std" not in table


def test_a_result_saves_and_loads_without_pickles(tmp_path: Path) -> None:
    o = _outcomes([1, 0, 1, 1], [5, 5, 6, 7])
    result = EvalResult("val", {**o.report("val"), "val/mrr_it": float("nan")}, {"": o, "plain_": o})
    back = EvalResult.load(result.save(tmp_path / "outcomes" / "val.npz"))
    assert back.split == "val" and set(back.outcomes) == {"", "plain_"}
    np.testing.assert_array_equal(back.outcomes["plain_"].values["mrr_avg"], o.values["mrr_avg"])
    assert np.isnan(back.metrics.pop("val/mrr_it"))
    assert back.metrics == {k: v for k, v in result.metrics.items() if k != "val/mrr_it"}
    with pytest.raises(ValueError, match="not an evaluation result"):
        (tmp_path / "bad.npz").write_text("no")
        EvalResult.load(tmp_path / "bad.npz")
