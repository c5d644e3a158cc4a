"""Sweep tables show every number with its uncertainty and beside the floor: pooled intervals per configuration,
the reference scorers and the training-free score as rows on the same queries, the selected model on test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cluster.console import results_lines
from cluster.launcher import SweepResult
from cluster.outcome import summarize, trial_row
from rcml_core.eval.results import EvalResult, QueryOutcomes, seed_table
from tracking.figures import hit5_table, metrics_table
from tracking.reports import evaluation_report, floor_lines

SIMS = ("tt", "ii", "ti", "it", "avg")


def _summary() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for tid, beta, seed, best in (("a0", 0.0, 0, 0.5), ("a1", 0.0, 1, 0.6), ("b0", 0.6, 0, 0.7)):
        h = pd.DataFrame([{"epoch": 0, "val/hit@5": best, **{f"val/hit@5_{s}": best for s in SIMS}}])
        rows.append(trial_row({"trial_id": tid, "status": "TERMINATED", "error": None, "beta": beta, "seed": seed}, h))
    trials = pd.DataFrame(rows)
    hits = {"a0": [1, 0, 1, 0], "a1": [1, 1, 0, 0], "b0": [1, 1, 1, 0]}
    outcomes = {t: QueryOutcomes(np.array([1, 1, 2, 3]), {f"hit@5_{s}": np.array(h, float) for s in SIMS})
                for t, h in hits.items()}
    return summarize(trials, ["beta"], outcomes), trials


def _baselines() -> dict[str, float]:
    o = QueryOutcomes(np.array([1, 1, 2, 3]), {"hit@1": np.array([0, 0, 1, 0.5]), "hit@5": np.array([1, 0.5, 1, 1.0]),
                                              "mrr": np.array([0.5, 0.3, 1, 0.6])})
    return o.report("val", "ref_catrel_")


def test_the_hit5_table_has_pooled_intervals_and_the_reference_scorer_as_a_row() -> None:
    summary, _ = _summary()
    table = hit5_table(summary, ["beta"], _baselines())
    assert list(table["beta"][:2]) == [0.0, 0.6] and table["beta"].iloc[2] == "reference: category pair | relation"
    first = table["hit@5 AVG"].iloc[0]
    assert first.startswith("0.5500 ± 0.0707 [") and first.endswith("]")  # mean ± std [pooled CI]
    assert table["hit@5 TT"].iloc[2] == table["hit@5 AVG"].iloc[2]  # one value for a model-free scorer
    assert table["avg_mean"].iloc[2] == pytest.approx(0.875)
    assert table["n_pooled"].iloc[0] == 2 and table["n_pairs"].iloc[0] == 3


def _test_table() -> dict[str, float]:
    results = []
    for hits in ([1, 0, 1, 0], [1, 1, 1, 0]):
        model = QueryOutcomes(np.array([1, 1, 2, 3]), {f"{m}_{s}": np.array(hits, float) for m in ("hit@5", "mrr")
                                                        for s in SIMS})
        ref = QueryOutcomes(np.array([1, 1, 2, 3]), {"hit@5": np.array([1, 0, 0, 0.5]), "mrr": np.ones(4)})
        metrics = {**model.report("test"), **ref.report("test", "ref_cat_"), "test/validity_acc": 0.7}
        results.append(EvalResult("test", metrics, {"": model, "ref_cat_": ref}))
    return seed_table(results)


def test_the_test_table_is_numeric_with_std_over_seeds_and_the_pooled_interval() -> None:
    test = _test_table()
    table = metrics_table(test, "test")
    row = table[(table["prefix"] == "") & (table["sim"] == "avg") & (table["metric"] == "hit@5")].iloc[0]
    assert row["mean"] == pytest.approx(0.625) and row["std"] == pytest.approx(np.std([0.5, 0.75], ddof=1))
    assert row["ci_lo"] <= row["mean"] <= row["ci_hi"] and row["n_seeds"] == 2 and row["n_pairs"] == 3
    ref = table[table["prefix"] == "ref_cat_"]
    assert set(ref["sim"]) == {""} and set(ref["metric"]) == {"hit@5", "mrr"}
    assert floor_lines(test, "test")[0].endswith("best reference / model = 0.60")  # 0.375 / 0.625


def test_every_sweep_report_gets_the_evaluation_tables() -> None:
    summary, _ = _summary()
    report = evaluation_report(summary, ["beta"], _baselines(), _test_table())
    assert set(report.tables) == {"hit5_by_configuration", "test_selected", "val_baselines"}
    assert any("best reference" in line for line in report.lines)


def test_the_console_prints_intervals_the_floor_rows_and_the_test_table() -> None:
    summary, trials = _summary()
    from cluster.outcome import select

    result = SweepResult(sweep_name="beta_sweep-x", parent_run_id="run", trials=trials, summary=summary,
                         selection=select(trials, summary, ["beta"]), test=_test_table(), val_baselines=_baselines())
    text = "\n".join(results_lines(result, ["beta"]))
    assert "val hit@5 AVG [pooled CI]" in text and "0.5500 ± 0.0707 [" in text
    assert "reference: category pair | relation" in text
    assert "test: 4 queries over 3 distinct pairs, 2 seed(s): mean ± std over seeds [pooled 95% CI]" in text
    assert "reference: category pair " in text.split("test:")[1]


def test_every_configuration_gets_its_mean_std_and_interval_under_a_readable_label() -> None:
    from tracking.reports import configuration_metrics

    summary = pd.DataFrame({"summary_mix": ["logit", "prob"], "beta": [0.6, 1.0], "best_val_mean": [0.43, 0.38],
                            "best_val_std": [0.028, 0.009], "best_val_ci_lo": [0.36, 0.31],
                            "best_val_ci_hi": [0.49, float("nan")], "n": [3, 3]})
    metrics = configuration_metrics(summary, ["summary_mix", "beta"])
    assert metrics["configurations/summary_mix:logit beta:0.6/val/hit@5"] == 0.43  # the mean over seeds
    assert metrics["configurations/summary_mix:prob beta:1/val/hit@5_std"] == 0.009
    assert metrics["configurations/summary_mix:logit beta:0.6/val/hit@5_ci_lo"] == 0.36
    assert metrics["configurations/summary_mix:logit beta:0.6/val/n_seeds"] == 3.0
    assert "configurations/summary_mix:prob beta:1/val/hit@5_ci_hi" not in metrics  # no interval: left out
