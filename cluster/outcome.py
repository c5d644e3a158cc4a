"""From Tune's record of a sweep to a table of trials, a summary per configuration and the selection.

One row per trial: its config, status, error, the best `val/hit@5` it reached (epoch 0
included) with the epoch and the per-similarity Hit@5 of that epoch (each with that epoch's
95 % interval over query pairs), how many epochs it ran and its latest checkpoint.
Configurations are the study's axes: their trials (one per seed) give mean and std over
seeds and, from the trials' per-query val outcomes (saved by each run at its end), the
pooled interval (docs/evaluation.md); the selected configuration is the one with the highest
mean validation Hit@5. Failed trials are listed and never selected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cluster.trial_path import latest_checkpoint
from rcml_core.errors import RCMLError
from rcml_core.eval import keys
from rcml_core.eval.keys import SELECTION_METRIC
from rcml_core.eval.results import QueryOutcomes, pool_seeds

SIM_METRICS = tuple(keys.metric_key("val", keys.PRIMARY_METRIC, s) for s in keys.SIMILARITIES)
# The best epoch's interval and counts, carried into the trials table beside its Hit@5.
EPOCH_EXTRAS = (*(k for m in (SELECTION_METRIC, *SIM_METRICS) for k in keys.ci_keys(m)),
                keys.count_key("val", keys.N_QUERIES), keys.count_key("val", keys.N_PAIRS))


def error_line(error: object) -> str:
    """The one line that says why a trial failed: the trial's own TrialFailed message (the last line of
    Tune's wrapped traceback), without the exception's class name."""
    text = str(error) if error else "the trial failed"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = lines[-1] if lines else text
    return line.removeprefix("cluster.trial.TrialFailed: ").removeprefix("TrialFailed: ")[:2000]


def trial_error(trial) -> str:
    """A failed Tune trial's error line, read from the error file Tune wrote locally (its copy in the
    experiment's storage is synced later), else from the storage."""
    try:
        path = trial.error_file
        error = Path(path).read_text() if path and Path(path).is_file() else trial.get_error()
    except Exception:  # noqa: BLE001 - no error file
        error = None
    return error_line(error)


def trial_row(trial: Mapping[str, Any], history: pd.DataFrame | None, trial_path: str | None = None) -> dict[str, Any]:
    """One trial's row: `trial` (its trial_id, status, error and config values) with what it reported
    (`history`: one row per reported epoch).

    The checkpoint: the latest one the trial reported, wherever it trained (cluster.trial_path; an in-actor
    trial's is relative to its folder, `trial_path`).
    """
    row: dict[str, Any] = dict(trial)
    row.update(best_val=math.nan, best_epoch=math.nan, epochs=0, checkpoint_path=None)
    row.update({m: math.nan for m in SIM_METRICS})
    if history is not None and SELECTION_METRIC in history and history[SELECTION_METRIC].notna().any():
        h = history.dropna(subset=[SELECTION_METRIC]).sort_values("epoch", kind="stable")
        best = h.loc[h[SELECTION_METRIC].idxmax()]  # first maximum: the earliest epoch wins ties
        row.update(best_val=float(best[SELECTION_METRIC]), best_epoch=int(best["epoch"]), epochs=int(h["epoch"].max()))
        row.update({m: float(best[m]) for m in (*SIM_METRICS, *EPOCH_EXTRAS) if m in best})
        row["checkpoint_path"] = latest_checkpoint(h, trial_path)
    return row


def trials_table(analysis, axes: Sequence[str]) -> pd.DataFrame:
    """A `ray.tune.ExperimentAnalysis` as the trials table (sorted by the axes, then seed)."""
    rows = []
    for trial in analysis.trials:
        error = trial_error(trial) if trial.status == "ERROR" else None
        rows.append(trial_row({"trial_id": trial.trial_id, "status": trial.status, "error": error, **trial.config},
                              analysis.trial_dataframes.get(trial.trial_id), trial.path))
    table = pd.DataFrame(rows)
    order = [k for k in (*axes, "seed") if k in table]
    return table.sort_values(order, kind="stable").reset_index(drop=True) if order else table


def summarize(trials: pd.DataFrame, axes: Sequence[str],
              outcomes: Mapping[str, QueryOutcomes] | None = None) -> pd.DataFrame:
    """Per configuration: mean, std and count over its successful trials of val Hit@5 (AVG and per type),
    and, where `outcomes` (trial id -> its best checkpoint's per-query val outcomes) has its trials, the
    pooled 95 % interval: `best_val_ci_lo/hi`, `val/hit@5_<sim>_ci_lo/hi`, `n_queries`, `n_pairs` and
    `n_pooled` (how many of its seeds were pooled; NaN columns where none)."""
    ok = trials[trials["best_val"].notna()]
    if ok.empty:
        return pd.DataFrame()
    keys_ = [a for a in axes if a in ok] or ["trial_id"]
    metrics = ["best_val", *[m for m in SIM_METRICS if m in ok]]
    grouped = ok.groupby(keys_, sort=False, dropna=False)
    summary = grouped[metrics].agg(["mean", "std"])
    summary.columns = [f"{m}_{stat}" for m, stat in summary.columns]
    summary["n"] = grouped.size()
    if "stopped_early" in ok:  # trials ASHA stopped (cluster.confirm): their score is from fewer epochs
        summary["stopped_early"] = grouped["stopped_early"].sum().astype(int)
    failed = trials[trials["best_val"].isna()]
    summary["failed"] = 0
    if not failed.empty and all(k in failed for k in keys_):
        summary["failed"] = failed.groupby(keys_, dropna=False).size().reindex(summary.index, fill_value=0)
    outcomes = outcomes or {}
    # the groups in the order agg() put them (both follow the group numbering of `grouped`)
    pooled = pd.DataFrame([pooled_interval([outcomes[t] for t in group["trial_id"] if t in outcomes])
                           for _, group in grouped], index=summary.index)
    return pd.concat([summary, pooled], axis=1).reset_index()


def pooled_interval(outcomes: Sequence[QueryOutcomes]) -> dict[str, float]:
    """The pooled val interval of one configuration's seeds (summary columns; NaN without outcomes)."""
    columns = {"best_val": SELECTION_METRIC, **{m: m for m in SIM_METRICS}}
    out = {f"{c}_{suffix}": math.nan for c in columns for suffix in ("ci_lo", "ci_hi")}
    out.update(n_queries=math.nan, n_pairs=math.nan, n_pooled=float(len(outcomes)))
    if not outcomes:
        return out
    try:
        report = pool_seeds(outcomes).report("val")
    except ValueError:  # seeds evaluated on different queries: no pooled interval
        return out
    for column, key in columns.items():
        lo, hi = keys.ci_keys(key)
        out[f"{column}_ci_lo"], out[f"{column}_ci_hi"] = report.get(lo, math.nan), report.get(hi, math.nan)
    out["n_queries"] = report[keys.count_key("val", keys.N_QUERIES)]
    out["n_pairs"] = report[keys.count_key("val", keys.N_PAIRS)]
    return out


@dataclass(frozen=True)
class Selection:
    config: dict[str, Any]  # the selected configuration (the axes' values)
    mean: float  # mean best val Hit@5 over its seeds
    std: float
    n: int
    trials: pd.DataFrame  # its trials, best first
    best_trial_id: str  # the trial whose checkpoint is registered


def select(trials: pd.DataFrame, summary: pd.DataFrame, axes: Sequence[str]) -> Selection:
    """The configuration with the highest mean val Hit@5 (the first one on ties)."""
    if summary.empty:
        raise RCMLError("no trial of the sweep produced a validation result; nothing to select "
                        f"(trial errors: {sorted(set(trials['error'].dropna()))[:3]})")
    axes_ = [a for a in axes if a in summary] or ["trial_id"]
    best = summary.iloc[int(np.nanargmax(summary["best_val_mean"].to_numpy()))]
    config = {k: best[k] for k in axes_}
    mask = trials[axes_].eq(pd.Series(config)).all(axis=1) & trials["best_val"].notna()
    chosen = trials[mask].sort_values("best_val", ascending=False, kind="stable")
    std = float(best["best_val_std"]) if not math.isnan(best["best_val_std"]) else 0.0
    return Selection(config=config, mean=float(best["best_val_mean"]), std=std, n=int(best["n"]), trials=chosen,
                     best_trial_id=str(chosen.iloc[0]["trial_id"]))
