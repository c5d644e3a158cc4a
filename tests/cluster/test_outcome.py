"""Selection: each trial's best epoch (epoch 0 included), mean over seeds, argmax, failures never selected."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cluster.outcome import select, summarize, trial_row
from rcml_core.errors import RCMLError
from rcml_core.eval.results import QueryOutcomes, pool_seeds

SIMS = ("tt", "ii", "ti", "it", "avg")


def history(values: list[float]) -> pd.DataFrame:
    rows = []
    for epoch, v in enumerate(values):
        row = {"epoch": epoch, "val/hit@5": v, "checkpoint_path": f"/ckpt/epoch_{epoch:03d}"}
        row.update({f"val/hit@5_{s}": v / 2 for s in ("tt", "ii", "ti", "it", "avg")})
        rows.append(row)
    return pd.DataFrame(rows)


def _row(trial_id: str, status: str, config: dict, h: pd.DataFrame | None, error: str | None,
         trial_path: str | None = None) -> dict:
    return trial_row({"trial_id": trial_id, "status": status, "error": error, **config}, h, trial_path)


def test_a_trials_best_epoch_is_the_first_maximum_and_its_checkpoint_the_latest() -> None:
    row = _row("t1", "TERMINATED", {"beta": 0.2, "seed": 0}, history([0.3, 0.5, 0.5, 0.4]), None)
    assert row["best_val"] == 0.5 and row["best_epoch"] == 1 and row["epochs"] == 3
    assert row["val/hit@5_tt"] == 0.25 and row["checkpoint_path"] == "/ckpt/epoch_003"


def test_a_trial_that_trained_in_its_own_actor_points_at_its_latest_tune_checkpoint() -> None:
    h = history([0.3, 0.5]).drop(columns="checkpoint_path")
    h["checkpoint_dir_name"] = ["checkpoint_000000", "checkpoint_000001"]
    row = _row("t", "TERMINATED", {"beta": 0.2}, h, None, "/ray_results/sweep/run_trial_t/")
    assert row["checkpoint_path"] == "/ray_results/sweep/run_trial_t/checkpoint_000001"
    assert _row("t", "TERMINATED", {"beta": 0.2}, h, None)["checkpoint_path"] is None  # no folder: none


def test_epoch_0_can_win() -> None:
    row = _row("t", "TERMINATED", {"beta": 1.0}, history([0.6, 0.4]), None)
    assert row["best_epoch"] == 0


def test_a_trial_without_results_has_no_score() -> None:
    row = _row("t", "ERROR", {"beta": 0.2}, None, "diverged at step 3")
    assert math.isnan(row["best_val"]) and row["error"] == "diverged at step 3"


def _trials() -> pd.DataFrame:
    rows = [
        _row("a0", "TERMINATED", {"beta": 0.0, "seed": 0}, history([0.3, 0.50]), None),
        _row("a1", "TERMINATED", {"beta": 0.0, "seed": 1}, history([0.3, 0.60]), None),
        _row("b0", "TERMINATED", {"beta": 0.6, "seed": 0}, history([0.3, 0.58]), None),
        _row("b1", "TERMINATED", {"beta": 0.6, "seed": 1}, history([0.3, 0.56]), None),
        _row("c0", "ERROR", {"beta": 1.0, "seed": 0}, None, "boom"),
        _row("c1", "TERMINATED", {"beta": 1.0, "seed": 1}, history([0.9, 0.1]), None),
    ]
    return pd.DataFrame(rows)


def test_configurations_are_averaged_over_their_seeds() -> None:
    summary = summarize(_trials(), ["beta"]).set_index("beta")
    assert summary.loc[0.0, "best_val_mean"] == pytest.approx(0.55)
    assert summary.loc[0.0, "best_val_std"] == pytest.approx(0.0707, abs=1e-4)
    assert summary.loc[0.6, "n"] == 2 and summary.loc[1.0, "n"] == 1 and summary.loc[1.0, "failed"] == 1


def test_the_selected_configuration_has_the_highest_mean_and_its_best_seed_is_registered() -> None:
    trials = _trials()
    selection = select(trials, summarize(trials, ["beta"]), ["beta"])
    assert selection.config == {"beta": 1.0}  # 0.9 from its one successful seed
    assert selection.best_trial_id == "c1" and len(selection.trials) == 1


def test_without_any_successful_trial_nothing_is_selected() -> None:
    trials = pd.DataFrame([_row("x", "ERROR", {"beta": 0.1, "seed": 0}, None, "boom")])
    with pytest.raises(RCMLError, match="nothing to select"):
        select(trials, summarize(trials, ["beta"]), ["beta"])


# ---- intervals: the best epoch's own, and the one pooled over a configuration's seeds -------------------


def test_a_trial_row_carries_its_best_epochs_interval_and_counts() -> None:
    h = history([0.3, 0.5])
    h["val/hit@5_ci_lo"], h["val/hit@5_ci_hi"] = [0.2, 0.4], [0.4, 0.6]
    h["val/n_queries"], h["val/n_pairs"] = 20.0, 9.0
    row = _row("t", "TERMINATED", {"beta": 0.2}, h, None)
    assert (row["val/hit@5_ci_lo"], row["val/hit@5_ci_hi"]) == (0.4, 0.6)
    assert row["val/n_queries"] == 20 and row["val/n_pairs"] == 9


def _val_outcomes(hits: list[float]) -> QueryOutcomes:
    h = np.array(hits, dtype=float)
    return QueryOutcomes(pair=np.array([1, 1, 2, 3, 4, 4]), values={f"hit@5_{s}": h for s in SIMS})


def test_a_configurations_pooled_interval_resamples_pairs_of_its_seeds_averaged_per_query() -> None:
    trials = _trials()
    outcomes = {"a0": _val_outcomes([1, 1, 0, 1, 0, 0]), "a1": _val_outcomes([1, 0, 0, 1, 1, 1]),
                "b0": _val_outcomes([1, 1, 1, 1, 0, 0])}  # b1 stopped before its end: no outcomes
    summary = summarize(trials, ["beta"], outcomes).set_index("beta")
    pooled = pool_seeds([outcomes["a0"], outcomes["a1"]]).report("val")
    assert summary.loc[0.0, "best_val_ci_lo"] == pooled["val/hit@5_ci_lo"]
    assert summary.loc[0.0, "val/hit@5_tt_ci_hi"] == pooled["val/hit@5_tt_ci_hi"]
    assert summary.loc[0.0, "n_pooled"] == 2 and summary.loc[0.6, "n_pooled"] == 1
    assert summary.loc[0.0, "n_queries"] == 6 and summary.loc[0.0, "n_pairs"] == 4
    assert math.isnan(summary.loc[1.0, "best_val_ci_lo"]) and summary.loc[1.0, "n_pooled"] == 0
    assert summary.loc[0.0, "best_val_mean"] == pytest.approx(0.55)  # the mean over seeds is unchanged
