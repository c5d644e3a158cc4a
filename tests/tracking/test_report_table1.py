"""Table 1 of `rcml report` from a sweep's parent metrics: the numbers are the stored ones, the best is bold."""

from __future__ import annotations

import pytest

from tracking.report_table1 import markdown, table1


def _metrics() -> dict[str, float]:
    out = {"selected/test/n_queries": 143.0, "selected/test/n_pairs": 91.0, "selected/test/n_seeds": 3.0,
           "selected/test/ref_catrel_hit_at_5": 0.40, "selected/test/ref_catrel_hit_at_5_ci_lo": 0.31,
           "selected/test/ref_catrel_hit_at_5_ci_hi": 0.50}
    for i, sim in enumerate(("tt", "ii", "ti", "it", "avg")):
        suffix = "" if sim == "avg" else f"_{sim}"  # the AVG similarity is written without a suffix
        base = f"selected/test/hit_at_5{suffix}"
        out.update({base: 0.30 + 0.05 * i, base + "_std": 0.01, base + "_ci_lo": 0.2, base + "_ci_hi": 0.6})
        out[f"selected/test/free_hit_at_5{suffix}"] = 0.25
    return out


def test_table1_holds_the_stored_means_stds_intervals_and_counts_per_scorer() -> None:
    table = table1(_metrics(), "hit@5").set_index("prefix")
    assert list(table["scorer"]) == ["RCML (selected)", "training-free (untrained backbone)",
                                     "reference: category pair | relation"]
    assert table.loc["", "it_mean"] == pytest.approx(0.45) and table.loc["", "it_std"] == 0.01
    assert (table.loc["", "avg_ci_lo"], table.loc["", "avg_ci_hi"]) == (0.2, 0.6)
    assert table.loc["", "n_queries"] == 143 and table.loc["", "n_pairs"] == 91 and table.loc["", "n_seeds"] == 3
    assert table.loc["ref_catrel_", "avg_mean"] == 0.40
    assert table.loc["ref_catrel_", ["tt_mean", "ii_mean"]].isna().all()  # one value, shown under AVG


def test_markdown_bolds_the_best_of_each_column_and_keeps_the_table_intact() -> None:
    text = markdown(table1(_metrics(), "hit@5"), "hit@5")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert all(row.count(" | ") == 5 for row in rows)  # the scorer name's '|' is escaped
    assert "**0.5000 ± 0.0100 [0.200, 0.600]**" in rows[1]  # AVG: the model's 0.50 beats 0.40
    assert "**" not in rows[3] and "0.4000 [0.310, 0.500]" in rows[3]  # the reference's AVG is below the model's
    assert "143 queries, 91 distinct item pairs, 3 seed(s)" in text


def test_figures_2_and_3_are_drawn_from_the_stored_task_metrics_and_skipped_without_them() -> None:
    from tracking.figures import close, relation_type_bars, validity_bar

    sims = ("tt", "ii", "ti", "it", "avg")
    metrics = {**{f"selected/test/rtype_top{k}_{s}": 0.1 * k for k in (1, 3) for s in sims},
               "selected/test/rtype_random_top3": 0.3, "selected/test/n_rtype_pairs": 40.0,
               "selected/test/validity_acc": 0.62, "selected/test/validity_acc_std": 0.01}
    fig2, fig3 = relation_type_bars(metrics), validity_bar(metrics)
    assert fig2 is not None and fig3 is not None
    heights = sorted(round(p.get_height(), 6) for p in fig2.axes[0].patches)
    assert heights == [0.1] * 5 + [0.3] * 5  # Top-1 and Top-3 per similarity type
    assert "40 test pairs" in fig2.axes[0].get_title()
    close(fig2)
    close(fig3)
    assert relation_type_bars({}) is None and validity_bar({}) is None
