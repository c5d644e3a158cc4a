"""Confirm the winner on fresh seeds (`--confirm K`): the selection score of the best of many configurations is
biased upward (the winner's curse); the same configurations trained again on seeds selection never saw are not.

After selection, the top K configurations by mean val Hit@5 are trained again, each on as many fresh seeds as
the sweep used (`fresh_seeds`: max(seeds)+1, max(seeds)+2, ...), with the sweep's data, budget and fixed
overrides, as Ray tasks with a trial's resources (all at once, as cluster/baselines.py runs the CLIP runs).
Each run keeps its best epoch by its own val Hit@5 on the selection queries, as a trial does; the final
configuration is the one with the highest mean confirmation val Hit@5 (the first on ties), and its sweep
trials go on to test and to the registry. The table (`confirmation.csv`, the printed lines, `confirm/<rank>/`
metrics on the parent run) shows each candidate's selection-time and confirmation scores side by side.

ASHA: a trial ASHA stopped (tag `rcml.stopped_by=asha`) has a score from fewer epochs than a full-budget one.
Its configuration is marked `stopped_early` (the trials table, the per-configuration table, the printed table)
and is ranked for confirmation only after every full-budget configuration; its confirmation runs get the full
budget, so the confirmation scores compare like with like.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from cluster.baselines import train_run
from cluster.resources import TrialPlan
from cluster.study import SEED, Study, plain_value
from rcml_core.config import Override
from rcml_core.errors import ConfigError
from rcml_core.eval import keys
from rcml_core.eval.results import EvalResult, seed_table
from tracking.run_tags import configuration_label

STOPPED_EARLY = "stopped_early"  # trials: stopped by ASHA (bool); configurations: how many of their trials were
ASHA = "asha"  # the value of tracking.sweep_runs.TAG_STOPPED_BY for a trial ASHA stopped
SELECTION = keys.SELECTION_METRIC  # val/hit@5: AVG similarity on the selection queries


def fresh_seeds(used: Sequence[int], n: int) -> tuple[int, ...]:
    """`n` seeds that selection did not use: the next integers after the largest one used."""
    if n < 1:
        raise ConfigError(f"confirmation needs at least one seed, got {n}")
    start = max(used) + 1 if used else 0
    return tuple(range(start, start + n))


def stopped_early(trials: pd.DataFrame, stopped_by: Mapping[str, str]) -> pd.Series:
    """Per trial: whether ASHA stopped it (`stopped_by`: run id -> its `rcml.stopped_by` tag)."""
    run_ids = trials["run_id"] if "run_id" in trials else pd.Series("", index=trials.index)
    return pd.Series([stopped_by.get(str(r), "") == ASHA for r in run_ids], index=trials.index, dtype=bool)


def candidates(summary: pd.DataFrame, k: int) -> pd.DataFrame:
    """The top `k` configurations of the per-configuration summary by mean val Hit@5, every full-budget one
    ranked before any with an ASHA-stopped trial; column `rank` from 1, in that order."""
    stopped = summary[STOPPED_EARLY] > 0 if STOPPED_EARLY in summary else pd.Series(False, index=summary.index)
    ranked = summary.assign(_stopped=stopped).sort_values(["_stopped", "best_val_mean"], ascending=[True, False],
                                                          kind="stable", na_position="last")
    top = ranked[ranked["best_val_mean"].notna()].head(k).drop(columns="_stopped").reset_index(drop=True)
    return top.assign(rank=range(1, len(top) + 1))


def configuration(row: Mapping[str, Any], axes: Sequence[str]) -> dict[str, Any]:
    """A summary row's configuration: its axes' values as the overrides they were (missing ones left out)."""
    out = {}
    for axis in axes:
        value = row.get(axis)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue  # a conditional search parameter this configuration did not have
        out[axis] = plain_value(value)
    return out


@dataclass(frozen=True)
class ConfirmSpec:
    k: int  # how many configurations to confirm
    preset: str
    overrides: tuple[Override, ...]  # the sweep's data, budget and fixed overrides
    seeds: tuple[int, ...]  # fresh seeds, the same for every candidate
    runs_root: str  # one run folder per candidate and seed

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"--confirm must be >= 1, got {self.k}")


def run_overrides(study: Study, spec: ConfirmSpec, config: Mapping[str, Any], seed: int) -> list[Override]:
    """One confirmation run's overrides: the sweep's, then the configuration's (its variant expanded) and seed."""
    return [*spec.overrides, *sorted(study.expand({**config, SEED: seed}).items())]


def _train_and_validate(preset: str, overrides: Sequence[Override], out_dir: str, use_gpu: bool,
                        threads: int) -> EvalResult:
    """Train one configuration on one seed; its best checkpoint's val retrieval on the selection queries."""
    from cluster.trial_path import plan_device
    from rcml_core.runtime.layout import OUTCOMES_DIR, SELECTION_OUTCOMES

    run = train_run(preset, [*overrides, ("train.num_threads", threads)], out_dir,
                    plan_device(use_gpu))
    return EvalResult.load(run.run_dir / OUTCOMES_DIR / SELECTION_OUTCOMES)


def run_confirmation(study: Study, spec: ConfirmSpec, configurations: Sequence[Mapping[str, Any]],
                     plan: TrialPlan) -> list[list[EvalResult]]:
    """Every configuration on every fresh seed, as parallel Ray tasks: per configuration, one result per seed."""
    import ray

    task = plan.task(_train_and_validate)
    refs = [[task.remote(spec.preset, run_overrides(study, spec, config, seed),
                         str(Path(spec.runs_root) / f"c{rank}-seed{seed}"), plan.use_gpu, plan.torch_threads)
             for seed in spec.seeds] for rank, config in enumerate(configurations, start=1)]
    return [ray.get(per_seed) for per_seed in refs]


@dataclass(frozen=True)
class Confirmation:
    table: pd.DataFrame  # one row per candidate: rank, axes, selection and confirmation scores, stopped_early
    chosen: dict[str, Any]  # the final configuration (axes' values)
    seeds: tuple[int, ...]

    def metrics(self) -> dict[str, float]:
        """For the parent run: `confirm/<rank>/...` per candidate, and `confirm/chosen_rank`."""
        out: dict[str, float] = {}
        for _, row in self.table.iterrows():
            prefix = f"confirm/{int(row['rank'])}"
            for column in ("selection_mean", "selection_std", "confirm_mean", "confirm_std", "confirm_ci_lo",
                           "confirm_ci_hi", "selection_seeds", "confirm_seeds", STOPPED_EARLY):
                out[f"{prefix}/{column}"] = float(row[column])
        out["confirm/chosen_rank"] = float(self.table.loc[self.table["chosen"], "rank"].iloc[0])
        return out

    def tags(self) -> dict[str, str]:
        return {f"rcml.confirm.{int(r['rank'])}": str(r["configuration"]) for _, r in self.table.iterrows()}

    def report(self):
        """`confirmation.csv` and the printed lines, for the sweep's report (tracking.reports)."""
        from tracking.reports import Report

        return Report(tables={"confirmation": self.table}, lines=self.lines())

    def lines(self) -> list[str]:
        seeds = ", ".join(map(str, self.seeds))
        out = [f"confirmation: the top {len(self.table)} by selection val hit@5, trained again on fresh seed(s) "
               f"{seeds} (selection scores of a winner are biased upward; the confirmation ones are not)",
               f"  {'rank':>4}  {'configuration':<40}  {'selection val hit@5':>21}  "
               f"{'confirmation val hit@5 [pooled CI]':>36}  stopped_early"]
        for _, r in self.table.iterrows():
            selection = f"{r['selection_mean']:.4f} ± {r['selection_std']:.4f}"
            confirmed = f"{r['confirm_mean']:.4f} ± {r['confirm_std']:.4f}" + (
                f" [{r['confirm_ci_lo']:.3f}, {r['confirm_ci_hi']:.3f}]" if not math.isnan(r["confirm_ci_lo"]) else "")
            stopped = "yes" if r[STOPPED_EARLY] else "no"
            chosen = "  <- chosen" if r["chosen"] else ""
            out.append(f"  {int(r['rank']):>4}  {str(r['configuration']):<40}  {selection:>21}  {confirmed:>36}  "
                       f"{stopped:>13}{chosen}")
        return out


def confirmation_table(top: pd.DataFrame, axes: Sequence[str], results: Sequence[Sequence[EvalResult]],
                       seeds: Sequence[int]) -> Confirmation:
    """The candidates (`candidates()` rows) beside their confirmation results; the chosen one is the highest
    mean confirmation val Hit@5 (the better-ranked one on ties)."""
    rows = []
    lo_key, hi_key = keys.ci_keys(SELECTION)
    for (_, candidate), per_seed in zip(top.iterrows(), results):
        table = seed_table(list(per_seed))
        config = configuration(candidate, axes)
        rows.append({"rank": int(candidate["rank"]), **config,
                     "configuration": configuration_label(config, axes),
                     STOPPED_EARLY: bool(candidate.get(STOPPED_EARLY, 0)),
                     "selection_mean": float(candidate["best_val_mean"]),
                     "selection_std": float(0.0 if math.isnan(candidate["best_val_std"]) else candidate["best_val_std"]),
                     "selection_seeds": float(candidate["n"]),
                     "confirm_mean": table[SELECTION], "confirm_std": table.get(keys.std_key(SELECTION), 0.0),
                     "confirm_ci_lo": table.get(lo_key, math.nan), "confirm_ci_hi": table.get(hi_key, math.nan),
                     "confirm_seeds": float(len(per_seed))})
    frame = pd.DataFrame(rows)
    best = int(frame["confirm_mean"].to_numpy().argmax())  # first maximum: the better selection rank wins ties
    frame["chosen"] = [i == best for i in range(len(frame))]
    return Confirmation(table=frame, chosen=configuration(top.iloc[best], axes), seeds=tuple(seeds))


def chosen_summary(summary: pd.DataFrame, chosen: Mapping[str, Any], axes: Sequence[str]) -> pd.DataFrame:
    """The summary row of the chosen configuration (for cluster.outcome.select)."""
    return summary[[configuration(row, axes) == chosen for _, row in summary.iterrows()]]


def mark_stopped_early(trials: pd.DataFrame, client) -> pd.Series:
    """Per trial: whether ASHA stopped it, from its child run's `rcml.stopped_by` tag (`client`: MlflowClient)."""
    from tracking.sweep_runs import TAG_STOPPED_BY

    run_ids = [str(r) for r in trials.get("run_id", pd.Series(dtype=str)) if r]
    return stopped_early(trials, {r: client.get_run(r).data.tags.get(TAG_STOPPED_BY, "") for r in run_ids})


def confirm(study: Study, spec: ConfirmSpec, summary: pd.DataFrame, axes: Sequence[str],
            plan: TrialPlan) -> Confirmation:
    """Pick the candidates, train them on fresh seeds, tabulate (see the module docstring)."""
    top = candidates(summary, spec.k)
    print(f"confirming the top {len(top)} configuration(s) on fresh seed(s) {list(spec.seeds)}", flush=True)
    results = run_confirmation(study, spec, [configuration(r, axes) for _, r in top.iterrows()], plan)
    return confirmation_table(top, axes, results, spec.seeds)
