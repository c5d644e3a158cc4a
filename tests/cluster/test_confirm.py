"""`--confirm K`: the candidates, fresh seeds, the final choice by the confirmation scores, and ASHA-stopped
trials marked and ranked after full-budget ones (the sweep itself: tests/sweeps/test_ablation_and_failures.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cluster.confirm import (
    STOPPED_EARLY,
    ConfirmSpec,
    candidates,
    chosen_summary,
    confirmation_table,
    configuration,
    fresh_seeds,
    run_overrides,
    stopped_early,
)
from cluster.outcome import summarize, trial_row
from cluster.study import Study
from rcml_core.errors import ConfigError
from rcml_core.eval.results import EvalResult, QueryOutcomes

SIMS = ("tt", "ii", "ti", "it", "avg")


def _trials(scores: dict[str, tuple[float, float]], stopped: set[str] = frozenset()) -> pd.DataFrame:
    """One trial per (tau, seed) with the given best val Hit@5; `stopped`: trial ids ASHA stopped."""
    rows = []
    for tid, (tau, best) in scores.items():
        h = pd.DataFrame([{"epoch": 1, "val/hit@5": best, **{f"val/hit@5_{s}": best for s in SIMS}}])
        rows.append({**trial_row({"trial_id": tid, "status": "TERMINATED", "error": None, "tau": tau, "seed": 0}, h),
                     "run_id": f"run-{tid}"})
    trials = pd.DataFrame(rows)
    trials[STOPPED_EARLY] = stopped_early(trials, {f"run-{t}": "asha" for t in stopped})
    return trials


def _val(hits: list[float]) -> EvalResult:
    outcomes = QueryOutcomes(np.arange(len(hits)), {f"hit@5_{s}": np.array(hits, float) for s in SIMS})
    return EvalResult("val", outcomes.report("val"), {"": outcomes})


def test_fresh_seeds_follow_the_largest_seed_selection_used() -> None:
    assert fresh_seeds([0, 1, 2], 3) == (3, 4, 5)
    assert fresh_seeds([5, 0], 1) == (6,)
    with pytest.raises(ConfigError):
        fresh_seeds([0], 0)


def test_asha_stopped_trials_are_marked_and_their_configurations_ranked_after_full_budget_ones() -> None:
    trials = _trials({"a": (0.05, 0.9), "b": (0.1, 0.5), "c": (0.2, 0.6)}, stopped={"a"})
    assert list(trials[STOPPED_EARLY]) == [True, False, False]
    summary = summarize(trials, ["tau"])
    assert dict(zip(summary["tau"], summary[STOPPED_EARLY])) == {0.05: 1, 0.1: 0, 0.2: 0}
    top = candidates(summary, 2)  # tau=0.05 scored highest, but on fewer epochs: the full-budget ones first
    assert list(top["tau"]) == [0.2, 0.1] and list(top["rank"]) == [1, 2]
    assert list(candidates(summary, 3)["tau"]) == [0.2, 0.1, 0.05]
    assert len(candidates(summary, 10)) == 3


def test_the_final_choice_is_the_best_confirmation_score_not_the_best_selection_score() -> None:
    trials = _trials({"a": (0.05, 0.9), "b": (0.1, 0.5), "c": (0.2, 0.6)})
    summary = summarize(trials, ["tau"])
    top = candidates(summary, 2)
    assert list(top["tau"]) == [0.05, 0.2]  # by selection score
    # fresh seeds: tau=0.05 was lucky (0.25 on 2 seeds), tau=0.2 holds up (0.625)
    results = [[_val([1, 0, 0, 0]), _val([0, 1, 0, 0])], [_val([1, 1, 0, 1]), _val([1, 0, 1, 0])]]
    confirmation = confirmation_table(top, ["tau"], results, (1, 2))
    table = confirmation.table
    assert list(table["selection_mean"]) == [0.9, 0.6]
    assert list(table["confirm_mean"]) == [pytest.approx(0.25), pytest.approx(0.625)]
    assert list(table["chosen"]) == [False, True] and confirmation.chosen == {"tau": 0.2}
    assert table.loc[1, "confirm_ci_lo"] <= 0.625 <= table.loc[1, "confirm_ci_hi"]
    assert list(table["confirm_seeds"]) == [2.0, 2.0] and list(table["configuration"]) == ["tau=0.05", "tau=0.2"]
    metrics = confirmation.metrics()
    assert metrics["confirm/chosen_rank"] == 2.0
    assert metrics["confirm/2/confirm_mean"] == pytest.approx(0.625) and metrics["confirm/1/selection_mean"] == 0.9
    assert confirmation.tags() == {"rcml.confirm.1": "tau=0.05", "rcml.confirm.2": "tau=0.2"}
    lines = confirmation.lines()
    assert "fresh seed(s) 1, 2" in lines[0]
    assert lines[-1].endswith("<- chosen") and "tau=0.2" in lines[-1] and "0.6000 ± 0.0000" in lines[-1]
    assert list(chosen_summary(summary, confirmation.chosen, ["tau"])["tau"]) == [0.2]


def test_a_search_configuration_without_a_conditional_parameter_is_confirmed_without_it() -> None:
    summary = pd.DataFrame({"lr": [1e-3, 2e-3], "lambda_intra": [0.3, math.nan], "batch_size": [32.0, 64.0],
                            "best_val_mean": [0.4, 0.5], "best_val_std": [math.nan, math.nan], "n": [1, 1]})
    axes = ["batch_size", "lambda_intra", "lr"]
    config = configuration(candidates(summary, 1).iloc[0], axes)
    assert config == {"batch_size": 64, "lr": 2e-3}  # 64, not 64.0; no lambda_intra=nan
    assert len(chosen_summary(summary, config, axes)) == 1
    spec = ConfirmSpec(1, "tiny", ("epochs=1",), (1,), "/runs")
    overrides = run_overrides(Study(name="s", fixed={"tau": 0.1}), spec, config, 1)
    assert overrides == ["epochs=1", ("batch_size", 64), ("lr", 2e-3), ("seed", 1), ("tau", 0.1)]
    assert type(overrides[1][1]) is int  # typed values, no `key=value` text in between


def test_confirm_k_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="--confirm"):
        ConfirmSpec(0, "tiny", (), (1,), "/runs")
