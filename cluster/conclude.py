"""The conclude stage of a sweep (cluster.launcher): from Tune's record of the trials to the registered model.

In order: each trial's child run brought in line with Tune's record and described; the trials summarised
per configuration (mean and std over seeds, the interval pooled from each trial's per-query val
outcomes); the selection by mean val Hit@5 over seeds (an ablation selects its reference and reports
each variant's paired drop against it: tracking.report_ablation; `--confirm` trains the top K again on
fresh seeds and chooses by those: cluster.confirm); the selected checkpoints on test with the
training-free and reference scorers and the CLIP baselines on the same queries (cluster.final_eval,
cluster.baselines); all of it on the parent run and in the report (docs/evaluation.md); the best
checkpoint registered as `rcml-<study>`. An interrupted sweep ends its running runs KILLED instead.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from cluster import confirm, paths
from cluster.baselines import BASELINE_PREFIXES, baseline_table, clip_baselines
from cluster.confirm import Confirmation
from cluster.embedding_figure import figure6
from cluster.outcome import Selection, select, summarize
from cluster.study import SEED, VARIANT, Study
from cluster.sweep_settings import SweepContext
from cluster.tuner import Tuned, end_orphaned_optuna_trials
from rcml_core.data.format.io import load_dataset
from rcml_core.data.format.schema import RelationalDataset
from rcml_core.errors import RCMLError
from rcml_core.eval import keys
from rcml_core.eval.results import EvalResult, QueryOutcomes, seed_table
from tracking import cost, report_ablation, reports, run_metadata, run_tags
from tracking.mlflow_tracker import MlflowTracker
from tracking.registry import model_name, register_model
from tracking.store import TrackingTarget
from tracking.sweep_runs import FINISHED, KILLED, end_run, kill_running_children, settle_trial_run


@dataclass(frozen=True)
class SweepResult:
    sweep_name: str
    parent_run_id: str
    trials: pd.DataFrame
    interrupted: bool = False
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    selection: Selection | None = None
    # The selected configuration on test over its seeds (rcml_core.eval.results.seed_table): each metric's mean,
    # `_std` over seeds, pooled `_ci_lo/_ci_hi`, counts; the model, free_ and ref_ scorers on the same queries.
    test: dict[str, float] = field(default_factory=dict)
    model_version: str | None = None
    report_dir: Path | None = None
    tracking: TrackingTarget | None = None
    experiment_id: str | None = None
    lines: list[str] = field(default_factory=list)
    # The scorers that need no sweep trial, on the val selection queries: ref_* and free_* (over the seeds).
    val_baselines: dict[str, float] = field(default_factory=dict)
    # The CLIP baselines on the same test queries over the same seeds (cluster/baselines.py): concat_ and plain_ keys.
    test_baselines: dict[str, float] = field(default_factory=dict)
    axes: list[str] = field(default_factory=list)  # what tells configurations apart (a search: its parameters)


@dataclass(frozen=True)
class Chosen:
    """The trials, summarised per configuration, and the selected configuration."""

    trials: pd.DataFrame  # Tune's record, with each trial's child run and whether ASHA stopped it
    axes: list[str]
    outcomes: dict[str, QueryOutcomes]  # trial id -> its per-query val outcomes (trials that reached their end)
    summary: pd.DataFrame  # per configuration: mean and std over seeds, the pooled interval
    selection: Selection
    confirmation: Confirmation | None  # with --confirm: the candidates' scores on fresh seeds


@dataclass(frozen=True)
class Tested:
    """The selected configuration and everything scored beside it on the same queries."""

    results: list[EvalResult]  # per selected seed, on test
    table: dict[str, float]  # `results` over seeds (seed_table)
    val_baselines: dict[str, float]  # the training-free and reference scorers on the val selection queries
    baselines: list[EvalResult]  # the CLIP baselines on test, per seed (none with --no-baselines)
    baseline_table: dict[str, float]
    dataset: RelationalDataset  # the sweep's dataset, loaded once (val floors, relation slices, Figure 6)
    ood: dict[str, float]  # the selected checkpoints on --ood-data's test queries (ood/test/...; empty without it)


def conclude(ctx: SweepContext, tuned: Tuned) -> SweepResult:
    """Select, test, log, report and register (see the module docstring)."""
    if tuned.interrupted:
        killed = kill_running_children(ctx.tracking, ctx.client)
        end_run(ctx.client, ctx.parent, KILLED, {"rcml.interrupted": "true"})
        return SweepResult(sweep_name=ctx.sweep_name, parent_run_id=ctx.parent, trials=tuned.trials, interrupted=True,
                           tracking=ctx.target, experiment_id=ctx.tracking.experiment_id,
                           lines=[f"interrupted: {killed} running trial(s) marked KILLED; resume with --resume "
                                  f"{ctx.sweep_name}"])
    chosen = _choose(ctx, tuned)
    tested = _test(ctx, chosen.selection)
    usage = cost.summarize_costs(cost.trial_costs(ctx.client, chosen.trials), chosen.axes, chosen.selection.config)
    _log_results(ctx, chosen, tested, usage)
    built = _report(ctx, chosen, tested, usage)
    report_dir = _write_report(ctx, built, chosen.selection, tested)
    version = (_register(ctx, chosen.selection, tested.results[0].metrics, report_dir) if ctx.settings.register
               else None)
    end_run(ctx.client, ctx.parent, FINISHED)
    return SweepResult(sweep_name=ctx.sweep_name, parent_run_id=ctx.parent, trials=chosen.trials,
                       summary=chosen.summary, selection=chosen.selection, test=tested.table, model_version=version,
                       report_dir=report_dir, tracking=ctx.target, experiment_id=ctx.tracking.experiment_id,
                       lines=built.lines, val_baselines=tested.val_baselines,
                       test_baselines=tested.baseline_table, axes=chosen.axes)


def selectable(study: Study, summary: pd.DataFrame) -> pd.DataFrame:
    """The configurations the sweep may select: all, except in a study with a reference variant (an ablation),
    which selects (and registers) its reference only; a variant above it within noise is not a better model."""
    if study.reference_variant is None or summary.empty or VARIANT not in summary:
        return summary
    chosen = summary[summary[VARIANT] == study.reference_variant]
    if chosen.empty:
        raise RCMLError(f"the reference variant {study.reference_variant!r} produced no validation result; an "
                        "ablation sweep selects only its reference (see the failed trials above)")
    return chosen


def _choose(ctx: SweepContext, tuned: Tuned) -> Chosen:
    """Each trial's child run in line with Tune's record and described; the summary; the selection (with
    --confirm: the top K again on fresh seeds, and the final choice by their scores: cluster.confirm)."""
    trials, axes, settings = tuned.trials.copy(), tuned.axes, ctx.settings
    trials["run_id"] = [settle_trial_run(ctx.tracking, row["trial_id"], row["status"], str(row["error"]), ctx.client)
                        for _, row in trials.iterrows()]  # each child run in line with Tune's record
    kill_running_children(ctx.tracking, ctx.client)  # runs of trials a dead driver started but Tune never saved
    if ctx.study.is_search and (orphans := end_orphaned_optuna_trials(ctx.sweep_name, ctx.home)):
        print(f"sweep {ctx.sweep_name}: {orphans} Optuna trial(s) asked before the driver died ended FAIL", flush=True)
    trials[confirm.STOPPED_EARLY] = confirm.mark_stopped_early(trials, ctx.client)
    _describe_children(ctx, trials, axes)
    outcomes = _selection_outcomes(trials, ctx.client)
    summary = summarize(trials, axes, outcomes)
    selection = select(trials, selectable(ctx.study, summary), axes)
    confirmation = None
    if settings.confirm:
        spec = confirm.ConfirmSpec(settings.confirm, settings.preset, ctx.base, confirm.fresh_seeds(
            settings.seeds, len(settings.run_seeds)), str(ctx.runs_root / "confirm"))
        confirmation = confirm.confirm(ctx.study, spec, selectable(ctx.study, summary), axes, ctx.plan)
        selection = select(trials, confirm.chosen_summary(summary, confirmation.chosen, axes), axes)
    return Chosen(trials=trials, axes=axes, outcomes=outcomes, summary=summary, selection=selection,
                  confirmation=confirmation)


def _test(ctx: SweepContext, selection: Selection) -> Tested:
    """Each selected seed's checkpoint on test, the val floors, and the CLIP baselines trained beside it."""
    from cluster.final_eval import evaluate_trials, ood_metrics, val_floors

    checkpoints = selection.trials["checkpoint_path"].tolist()
    if any(p is None for p in checkpoints):
        raise RCMLError("a selected trial reported no checkpoint; cannot evaluate it on test")
    val_queries = ctx.run_config.eval.max_val_queries  # the queries validation selected on
    evaluations = evaluate_trials(checkpoints, ctx.storage, ctx.plan, split="test", val_queries=val_queries)
    results = [e.test for e in evaluations]
    dataset = load_dataset(ctx.run_config.data)
    val_baselines = val_floors(dataset, val_queries, [e.val_free for e in evaluations])
    baselines = clip_baselines(ctx, selection)
    return Tested(results=results, table=seed_table(results), val_baselines=val_baselines, baselines=baselines,
                  baseline_table=baseline_table(baselines) if baselines else {}, dataset=dataset,
                  ood=ood_metrics(checkpoints, ctx.storage, ctx.plan, ctx.settings.ood_data))


def _log_results(ctx: SweepContext, chosen: Chosen, tested: Tested, usage: cost.CostSummary) -> None:
    """Each selected trial's test metrics on its child run; on the parent: selection, test, baselines, trial
    counts, the confirmation, the costs and every configuration's metrics."""
    selection, trials = chosen.selection, chosen.trials
    for (_, row), result in zip(selection.trials.iterrows(), tested.results):
        if row["run_id"]:
            MlflowTracker(ctx.client, row["run_id"]).log_metrics(
                {keys.staged(keys.FINAL, k): v for k, v in result.metrics.items()}, step=int(row["epochs"]))
    parent = MlflowTracker(ctx.client, ctx.parent)
    selected = keys.staged(keys.SELECTED, keys.SELECTION_METRIC)
    parent.log_metrics({selected: selection.mean, keys.std_key(selected): selection.std,
                        **{keys.staged(keys.SELECTED, k): v for k, v in tested.table.items()},
                        **{keys.staged(keys.BASELINES, k): v
                           for k, v in {**tested.val_baselines, **tested.baseline_table}.items()},
                        "trials/failed": float((trials["status"] == "ERROR").sum()),
                        "trials/total": float(len(trials)), **tested.ood}, step=0)
    if ctx.settings.ood_data:
        run_metadata.describe_run(ctx.client, ctx.parent, None,
                                  run_metadata.dataset_input(ctx.settings.ood_data, run_metadata.OOD_CONTEXT))
    parent.set_tags({"rcml.selected": json.dumps(selection.config, default=str),
                     "rcml.selected_trial": selection.best_trial_id})
    if chosen.confirmation is not None:
        parent.log_metrics(chosen.confirmation.metrics(), step=0)
        parent.set_tags(chosen.confirmation.tags())
    parent.log_metrics(usage.totals, step=0)
    parent.log_metrics(reports.configuration_metrics(chosen.summary, chosen.axes), step=0)  # not only the selected


def _report(ctx: SweepContext, chosen: Chosen, tested: Tested, usage: cost.CostSummary) -> reports.Report:
    """The sweep's report: the study's own, the costs, the evaluation and relation tables, the ablation drops,
    the confirmation."""
    study, trials, axes, summary = ctx.study, chosen.trials, chosen.axes, chosen.summary
    parts = [(study.report or reports.base_report)(summary, trials, axes), cost.cost_report(usage)]
    if study.extra_report is not None:
        parts.append(study.extra_report(ctx.sweep_name, ctx.home))
    parts += [reports.evaluation_report(summary, axes, tested.val_baselines, {**tested.table, **tested.baseline_table}),
              reports.ood_report(tested.ood), figure6(chosen.selection, ctx.storage, ctx.runs_root, tested.dataset),
              reports.relation_report(tested.dataset, {
                  "selected": [r.outcomes[keys.MODEL] for r in tested.results if keys.MODEL in r.outcomes],
                  **{keys.LABELS[p]: [b.outcomes[p] for b in tested.baselines] for p in BASELINE_PREFIXES}})]
    if study.reference_variant is not None:  # ablations: drops against the reference with paired intervals
        parts.append(report_ablation.drops_report(trials, chosen.outcomes, study.reference_variant, VARIANT))
    if chosen.confirmation is not None:
        parts.append(chosen.confirmation.report())
    return reports.merge(*parts)


def _write_report(ctx: SweepContext, built: reports.Report, selection: Selection, tested: Tested) -> Path:
    """The report's files and selection.json under <home>/reports/<sweep>, logged on the parent run."""
    report_dir = ctx.home / "reports" / ctx.sweep_name
    written = built.write(report_dir)
    (report_dir / "selection.json").write_text(json.dumps(
        {"config": selection.config, "val_hit@5_mean": selection.mean, "val_hit@5_std": selection.std,
         "seeds": selection.n, "test": tested.table, "val_baselines": tested.val_baselines,
         "test_baselines": tested.baseline_table, "best_trial": selection.best_trial_id},
        indent=2, default=str))
    parent = MlflowTracker(ctx.client, ctx.parent)
    for path in [*written, report_dir / "selection.json"]:
        parent.log_artifact(path, artifact_path="report")
    return report_dir


def _selection_outcomes(trials: pd.DataFrame, client: MlflowClient) -> dict[str, QueryOutcomes]:
    """trial id -> its best checkpoint's per-query val outcomes on the selection queries, which each run
    records at its end (rcml_core.train.loop: outcomes/selection-val.npz). A trial stopped before its end
    (ASHA, failure) has none and is left out of its configuration's pooled interval."""
    from rcml_core.runtime.layout import OUTCOMES_DIR, SELECTION_OUTCOMES

    out: dict[str, QueryOutcomes] = {}
    with tempfile.TemporaryDirectory(prefix="rcml-outcomes-") as folder:
        for _, row in trials[trials["best_val"].notna()].iterrows():
            if not row.get("run_id"):
                continue
            try:
                dest = Path(folder) / str(row["trial_id"])
                dest.mkdir()
                path = client.download_artifacts(row["run_id"], f"{OUTCOMES_DIR}/{SELECTION_OUTCOMES}", str(dest))
                out[row["trial_id"]] = EvalResult.load(path).outcomes[keys.MODEL]
            except Exception:  # noqa: BLE001 - no such artifact (the run did not reach its end): not pooled
                continue
    return out


def _register(ctx: SweepContext, selection: Selection, test_metrics: dict[str, float], report_dir: Path) -> str:
    """The best trial's checkpoint as the next version of `rcml-<study>`, described; its version."""
    from cluster.final_eval import fetch_best_checkpoint

    study, sweep_name = ctx.study, ctx.sweep_name
    best = selection.trials.iloc[0]
    local = fetch_best_checkpoint(best["checkpoint_path"], ctx.storage, report_dir / "model" / "checkpoint")
    shown = {k: v for k, v in test_metrics.items() if not keys.is_interval_or_spread(k)}  # version tags: values only
    seed = run_tags.seed_value({SEED: best.get(SEED)})
    version = register_model(ctx.target.uri, best["run_id"] or ctx.parent, local, study.name, shown,
                             {"rcml.sweep": sweep_name, "rcml.trial_id": best["trial_id"],
                              "rcml.config": json.dumps(selection.config, default=str), "rcml.seed": seed})
    rule = (f"the reference variant {study.reference_variant!r} of an ablation study (ablated variants are "
            "reported as drops against it, never selected)" if study.reference_variant is not None else
            "the highest mean val Hit@5 (AVG similarity) over seeds; then its seed with the highest val Hit@5")
    seeds = [int(s) for s in selection.trials[SEED].dropna()] if SEED in selection.trials else []
    description = run_metadata.version_description(
        study.name, run_tags.configuration_label(selection.config, list(selection.config)), seed, sorted(seeds), rule,
        sweep_name)
    ctx.client.update_model_version(model_name(study.name), version.version, description=description)
    ctx.client.set_tag(ctx.parent, "rcml.registered_model", f"{model_name(study.name)}/{version.version}")
    return version.version


def _describe_children(ctx: SweepContext, trials: pd.DataFrame, axes: list[str]) -> None:
    """Every child run's seed and configuration tags, git commit, dataset input and best checkpoint's location
    (tracking.run_metadata); the trials write their own config.json."""
    from cluster.final_eval import BEST

    commit, dataset = run_metadata.git_commit(paths.PROJECT_ROOT), run_metadata.dataset_input(ctx.data)
    for _, row in trials[trials["run_id"].astype(bool)].iterrows():
        config = {k: row[k] for k in (*axes, SEED) if k in row}
        tags = {run_tags.TAG_SEED: run_tags.seed_value(config),
                run_tags.TAG_CONFIGURATION: run_tags.configuration_label(config, axes)}
        if row.get("checkpoint_path"):
            tags[run_tags.TAG_BEST_CHECKPOINT] = f"{str(row['checkpoint_path']).rstrip('/')}/{BEST}"
        run_metadata.describe_run(ctx.client, row["run_id"], commit, dataset, tags=tags)

