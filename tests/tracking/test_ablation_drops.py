"""An ablation sweep reports drops against `full` with paired intervals, and selects `full`, never a variant."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cluster.conclude import selectable as _selectable
from cluster.study import Study
from rcml_core.eval.results import QueryOutcomes
from tracking.report_ablation import drops_report

N_PAIRS = 120


def _trials_and_outcomes(rates: dict[str, float], seeds=(0, 1)) -> tuple[pd.DataFrame, dict[str, QueryOutcomes]]:
    rng = np.random.default_rng(0)
    pair = np.repeat(np.arange(N_PAIRS), 2)
    rows, outcomes = [], {}
    for variant, rate in rates.items():
        for seed in seeds:
            trial = f"{variant}-{seed}"
            rows.append({"trial_id": trial, "variant": variant, "seed": seed})
            values = {f"{m}_{s}": (rng.random(len(pair)) < rate).astype(float)
                      for m in ("hit@5", "mrr") for s in ("tt", "ii", "ti", "it", "avg")}
            outcomes[trial] = QueryOutcomes(pair, values)
    return pd.DataFrame(rows), outcomes


def test_each_variant_gets_its_drop_with_a_paired_interval_and_a_mark_only_where_significant() -> None:
    trials, outcomes = _trials_and_outcomes({"full": 0.6, "no_big": 0.2, "no_none": 0.6})
    report = drops_report(trials, outcomes, "full", "variant")
    table = report.tables["ablation_drops"]
    avg = table[table["metric"] == "hit@5_avg"].set_index("variant")
    assert list(avg.index) == ["no_big", "no_none"]
    big = avg.loc["no_big"]
    assert big["drop_ci_lo"] > 0 and big["mark"] == "*" and big["seeds_paired"] and big["seeds"] == "0 1"
    assert big["drop"] == pytest.approx(big["reference_mean"] - big["variant_mean"])
    assert avg.loc["no_none", "drop_ci_lo"] <= 0 <= avg.loc["no_none", "drop_ci_hi"]
    assert "ablation_drops" in report.figures
    lines = "\n".join(report.lines)
    assert "no_big" in lines and "p_holm" in lines and "'full' is the sweep's model" in lines


def test_without_the_references_outcomes_the_report_says_so_instead_of_a_table() -> None:
    trials, outcomes = _trials_and_outcomes({"full": 0.6, "no_x": 0.2})
    outcomes = {k: v for k, v in outcomes.items() if not k.startswith("full")}
    report = drops_report(trials, outcomes, "full", "variant")
    assert not report.tables and any("no paired intervals" in line for line in report.lines)


def test_an_ablation_study_selects_its_reference_even_when_a_variant_scores_higher() -> None:
    study = Study(name="abl", grid={"variant": ["full", "no_x"]}, variants={"full": {}, "no_x": {"no_edge_text": True}},
                  reference_variant="full")
    summary = pd.DataFrame({"variant": ["full", "no_x"], "best_val_mean": [0.30, 0.35]})
    assert list(_selectable(study, summary)["variant"]) == ["full"]
    grid = Study(name="grid", grid={"beta": [0.2, 0.6]})
    assert _selectable(grid, summary) is summary
