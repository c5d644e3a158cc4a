"""The one launcher every sweep script calls: study -> Ray Tune (+ Optuna, ASHA) -> selection -> test.

    result = run_sweep(study, SweepSettings(seeds=(0, 1, 2)), report=beta_report)

Steps, in order, so that every user error surfaces before any expensive work:

1. resolve the dataset (the embedded synthetic catalog when none is given), the sweep's
   budget overrides, and validate every trial configuration of the study;
2. check that the MLflow store can be reached;
3. name the sweep (new) or find it again (`resume`), generate the embedded catalog once;
4. connect to Ray, plan trial resources, open the sweep's MLflow parent run;
5. run the Tuner: grid studies through Tune's grid search (no early stopping), search
   studies through OptunaSearch (TPE, persistent Optuna storage) with ASHA on
   `val/hit@5` per epoch; `resume` restores the Tuner, so finished trials are not rerun;
6. summarise trials per configuration (mean and std over seeds, and the interval pooled over
   seeds from each trial's per-query val outcomes), select the best by mean validation
   Hit@5 over seeds (an ablation study selects its reference variant and reports each
   variant's drop against it with a paired interval: tracking.report_ablation; with `confirm`,
   the top K train again on fresh seeds and the final choice is theirs: cluster.confirm), evaluate
   the selected configuration's checkpoints on test (every metric with its interval, the
   training-free score on the untrained backbone), train the CLIP baselines with the same
   budget and seeds and test them on the same queries (cluster/baselines.py), score the
   model-free reference scorers on the same val and test queries, register the best
   checkpoint as `rcml-<study>`, write the report (docs/evaluation.md), end the parent run
   FINISHED.

Interrupted (Ctrl+C or SIGTERM): Tune saves its state, running child runs and the parent
end KILLED, and the printed command resumes the sweep.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from cluster import confirm, paths
from cluster.baselines import BASELINE_PREFIXES, baseline_table, clip_baselines
from cluster.connect import connect
from cluster.outcome import Selection, select, summarize, trials_table
from cluster.resources import TrialPlan, plan_trials
from cluster.study import SEED, VARIANT, Study, validate_study
from cluster.storage import is_remote_uri, require_shared_storage
from cluster.sweep_settings import (
    SweepSettings,
    budget_epochs,
    embedded_data,
    ensure_embedded_data,
    resolve_resume,
    write_settings,
)
from cluster.tuner import build_tuner, sigterm_as_interrupt
from rcml_core.errors import RCMLError
from rcml_core.eval import keys
from rcml_core.eval.results import EvalResult, QueryOutcomes, seed_table
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.writable import require_writable
from tracking import cost, report_ablation, reports, run_metadata, run_tags
from tracking.mlflow_tracker import MlflowTracker
from tracking.registry import model_name, register_model
from tracking.store import TrackingLost, TrackingTarget, check_reachable, resolve_tracking
from tracking.sweep_runs import (
    FAILED,
    FINISHED,
    KILLED,
    SweepTracking,
    adopt_orphans,
    end_run,
    get_or_create_experiment,
    kill_running_children,
    settle_trial_run,
    start_parent_run,
)

ReportFn = Callable[[pd.DataFrame, pd.DataFrame, list[str]], reports.Report]


@dataclass
class SweepResult:
    sweep_name: str
    parent_run_id: str
    trials: pd.DataFrame
    summary: pd.DataFrame
    selection: Selection | None
    # The selected configuration on test over its seeds (rcml_core.eval.results.seed_table): each metric's mean,
    # `_std` over seeds, pooled `_ci_lo/_ci_hi`, counts; the model, free_ and ref_ scorers on the same queries.
    test: dict[str, float]
    model_version: str | None
    interrupted: bool
    report_dir: Path | None
    tracking: TrackingTarget | None = None
    lines: list[str] = field(default_factory=list)
    # The scorers that need no sweep trial, on the val selection queries: ref_* and free_* (over the seeds).
    val_baselines: dict[str, float] = field(default_factory=dict)
    test_results: list[EvalResult] = field(default_factory=list)  # per selected seed, with per-query outcomes
    # The CLIP baselines on the same test queries over the same seeds (cluster/baselines.py): concat_ and plain_ keys.
    test_baselines: dict[str, float] = field(default_factory=dict)
    axes: list[str] = field(default_factory=list)  # what tells configurations apart (a search: its parameters)
    experiment_id: str | None = None


def run_sweep(study: Study, settings: SweepSettings, report: ReportFn | None = None,
              extra_report: Callable[[str, Path], reports.Report] | None = None) -> SweepResult:
    """Run (or resume) the study; see the module docstring."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no Tune tables; ProgressCallback prints
    home = Path(settings.home).resolve() if settings.home else paths.default_home()
    storage = settings.storage or str(home / "ray_results")
    require_writable(home, "--home")  # a clear error now, not a traceback from Tune or MLflow later
    if not is_remote_uri(storage):
        require_writable(storage.split("://", 1)[-1], "--storage")
    if settings.resume:
        sweep_name, settings = resolve_resume(study, settings, storage)
    else:
        sweep_name = settings.name or paths.new_sweep_name(study.name)
        if sweep_name in paths.existing_sweeps(storage, study.name):
            raise RCMLError(f"a sweep named {sweep_name!r} exists under {storage}; --resume {sweep_name} continues it")
    data = Path(settings.data).resolve() if settings.data else embedded_data(home, settings.smoke_test)
    base = [f"data={data}", *settings.budget(), *settings.overrides]
    seeds = settings.run_seeds
    validate_study(study, settings.preset, base, seeds, num_workers=settings.resources.num_workers)
    epochs = budget_epochs(base, settings.preset)
    target = resolve_tracking(home)
    check_reachable(target)
    if settings.data is None:
        ensure_embedded_data(data, settings.smoke_test)
    elif not (data / "manifest.json").is_file():
        raise RCMLError(f"--data {data}: not a dataset folder (no manifest.json); build one with `rcml data ...`")

    cluster = connect(settings.address)
    require_shared_storage(storage, cluster)
    plan = plan_trials(settings.resources, cluster, study.n_trials(len(seeds)))
    client = MlflowClient(target.uri)
    experiment_id = get_or_create_experiment(client, f"rcml-{study.name}", target)
    run_metadata.describe_experiment(client, experiment_id)
    if settings.resume and (orphans := adopt_orphans(client, experiment_id, sweep_name)):
        print(f"sweep {sweep_name}: its driver died; {orphans} trial run(s) it left RUNNING are re-attached "
              "(tag rcml.orphaned)", flush=True)
    parent = start_parent_run(client, experiment_id, sweep_name, {"rcml.study": study.name})
    handle = SweepTracking(target.uri, experiment_id, parent, sweep_name)
    tracker = MlflowTracker(client, parent)
    try:
        tracker.log_params({"sweep": {"study": study.name, "name": sweep_name, "preset": settings.preset,
                                      "data": str(data), "seeds": list(seeds), "overrides": base,
                                      "grid": {k: list(v) for k, v in study.grid.items()},
                                      "num_samples": study.num_samples, "resources": plan.describe()}})
        run_metadata.describe_run(client, parent, run_metadata.git_commit(paths.PROJECT_ROOT),
                                  run_metadata.dataset_input(data),
                                  config=resolve_run_config(settings.preset, overrides=base).to_dict())
        if not settings.resume:
            write_settings(storage, sweep_name, settings)
        print(f"sweep {sweep_name}: {study.n_trials(len(seeds))} trial(s), {plan.describe()}; "
              f"data {data}; MLflow {target.uri}", flush=True)
        result = _tune_and_select(study, settings, sweep_name, storage, home, plan, epochs, handle, client, parent,
                                  base, report, extra_report)
    except BaseException as exc:
        if isinstance(exc, TrackingLost):  # the server is gone: the runs wait as they are for --resume
            raise
        status = KILLED if isinstance(exc, KeyboardInterrupt) else FAILED
        kill_running_children(handle, client)
        end_run(client, parent, status, {"rcml.failure": f"{type(exc).__name__}: {exc}"[:2000]})
        raise
    result.tracking, result.experiment_id = target, experiment_id
    return result


def _tune_and_select(study, settings, sweep_name, storage, home, plan, epochs, handle, client, parent, base,
                     report, extra_report) -> SweepResult:
    from ray import tune
    from ray.tune import ExperimentAnalysis

    from cluster import final_eval
    from cluster.callbacks import ProgressCallback, TrialRunsCallback, UsageCallback
    from cluster.tracking_relay import start_relay, stop_relay
    from cluster.trial import TrialSettings, run_trial

    relay = start_relay(handle)  # the trials' MLflow writes go through it; it starts while Tune is set up
    trial_settings = TrialSettings(
        study=study, preset=settings.preset, overrides=tuple(base), runs_root=str(home / "runs" / sweep_name),
        train_storage=f"{paths.experiment_path(storage, sweep_name)}/train_runs", plan=plan, tracking=relay,
        max_failures=settings.max_failures, final_splits=settings.final_splits,
    )
    trainable = tune.with_resources(tune.with_parameters(run_trial, settings=trial_settings), plan.trial_resources)
    restore = bool(settings.resume) and tune.Tuner.can_restore(paths.experiment_path(storage, sweep_name))
    tuner = build_tuner(study, trainable, settings, sweep_name, storage, home, plan, epochs,
                        [UsageCallback(handle, plan, settings.node_prices), TrialRunsCallback(handle, epochs),
                         ProgressCallback(list(study.axes), study.n_trials(len(settings.run_seeds)))], restore)
    try:
        with sigterm_as_interrupt() as signals:
            tuner.fit()
    finally:
        stop_relay(relay)
    # Tune's saved record, not the in-memory one: after Ctrl+C, Tune's clean-up marks the trials it stopped
    # TERMINATED in memory, while its saved state (what --resume reads) keeps them RUNNING, and trials of a
    # grid or search that were not created yet are in neither.
    analysis = ExperimentAnalysis(paths.experiment_path(storage, sweep_name),
                                  storage_filesystem=final_eval.storage_filesystem(storage))
    axes = list(study.axes) if not study.is_search else sorted(
        {k for t in analysis.trials for k in t.config} - {SEED})
    trials = trials_table(analysis, axes)
    interrupted = (signals["terminated"] or len(trials) < study.n_trials(len(settings.run_seeds))
                   or bool((~trials["status"].isin(["TERMINATED", "ERROR"])).any()))
    report_dir = home / "reports" / sweep_name
    if interrupted:
        killed = kill_running_children(handle, client)
        end_run(client, parent, KILLED, {"rcml.interrupted": "true"})
        return SweepResult(sweep_name, parent, trials, pd.DataFrame(), None, {}, None, True, None,
                           lines=[f"interrupted: {killed} running trial(s) marked KILLED; resume with --resume "
                                  f"{sweep_name}"])
    trials["run_id"] = [_reconciled_run(handle, row, client) for _, row in trials.iterrows()]
    trials[confirm.STOPPED_EARLY] = confirm.mark_stopped_early(trials, client)
    _describe_children(client, trials, axes, base)
    outcomes = _selection_outcomes(trials, client)
    summary = summarize(trials, axes, outcomes)
    selection = select(trials, _selectable(study, summary), axes)
    confirmation = None
    if settings.confirm:  # the top K again on fresh seeds; the final choice by their scores (cluster.confirm)
        spec = confirm.ConfirmSpec(settings.confirm, settings.preset, tuple(base), confirm.fresh_seeds(
            settings.seeds, len(settings.run_seeds)), str(home / "runs" / sweep_name / "confirm"))
        confirmation = confirm.confirm(study, spec, _selectable(study, summary), axes, plan)
        selection = select(trials, confirm.chosen_summary(summary, confirmation.chosen, axes), axes)
    run_config = resolve_run_config(settings.preset, overrides=base)
    val_queries = run_config.eval.max_val_queries  # the queries validation selected on
    evaluations = _test_metrics(selection, storage, plan, val_queries)
    test_results = [e.test for e in evaluations]
    test = seed_table(test_results)
    val_baselines = final_eval.val_floors(run_config.data, val_queries, [e.val_free for e in evaluations])
    baseline_results = clip_baselines(study, settings, base, selection, plan, home / "runs" / sweep_name)
    test_baselines = baseline_table(baseline_results) if baseline_results else {}
    for (_, row), result in zip(selection.trials.iterrows(), test_results):
        if row["run_id"]:
            MlflowTracker(client, row["run_id"]).log_metrics({f"final/{k}": v for k, v in result.metrics.items()},
                                                             step=int(row["epochs"]))
    parent_tracker = MlflowTracker(client, parent)
    parent_tracker.log_metrics({"selected/val/hit@5_mean": selection.mean, "selected/val/hit@5_std": selection.std,
                                **{f"selected/{k}": v for k, v in test.items()},
                                **{f"baselines/{k}": v for k, v in {**val_baselines, **test_baselines}.items()},
                                "trials/failed": float((trials["status"] == "ERROR").sum()),
                                "trials/total": float(len(trials))}, step=0)
    parent_tracker.set_tags({"rcml.selected": json.dumps(selection.config, default=str),
                             "rcml.selected_trial": selection.best_trial_id})
    if confirmation is not None:
        parent_tracker.log_metrics(confirmation.metrics(), step=0)
        parent_tracker.set_tags(confirmation.tags())
    usage = cost.summarize_costs(cost.trial_costs(client, trials), axes, selection.config)
    parent_tracker.log_metrics(usage.totals, step=0)
    parent_tracker.log_metrics(reports.configuration_metrics(summary, axes), step=0)  # every configuration, not only the selected
    built = reports.merge((report or reports.base_report)(summary, trials, axes), cost.cost_report(usage))
    if extra_report is not None:
        built = reports.merge(built, extra_report(sweep_name, home))
    built = reports.merge(built, reports.evaluation_report(summary, axes, val_baselines, {**test, **test_baselines}))
    built = reports.merge(built, reports.relation_report(run_config.data, {
        "selected": [r.outcomes[keys.MODEL] for r in test_results if keys.MODEL in r.outcomes],
        **{keys.LABELS[p]: [b.outcomes[p] for b in baseline_results] for p in BASELINE_PREFIXES}}))
    if study.reference_variant is not None:  # ablations: drops against the reference with paired intervals
        built = reports.merge(built, report_ablation.drops_report(trials, outcomes, study.reference_variant, VARIANT))
    if confirmation is not None:
        built = reports.merge(built, confirmation.report())
    written = built.write(report_dir)
    (report_dir / "selection.json").write_text(json.dumps(
        {"config": selection.config, "val_hit@5_mean": selection.mean, "val_hit@5_std": selection.std,
         "seeds": selection.n, "test": test, "val_baselines": val_baselines, "test_baselines": test_baselines,
         "best_trial": selection.best_trial_id},
        indent=2, default=str))
    for path in [*written, report_dir / "selection.json"]:
        parent_tracker.log_artifact(path, artifact_path="report")
    version = None
    if settings.register:
        version = _register(study, selection, test_results[0].metrics, storage, report_dir, handle, client, parent)
    end_run(client, parent, FINISHED)
    return SweepResult(sweep_name, parent, trials, summary, selection, test, version, False, report_dir,
                       lines=built.lines, val_baselines=val_baselines, test_results=test_results,
                       test_baselines=test_baselines, axes=axes)


def _selectable(study: Study, summary: pd.DataFrame) -> pd.DataFrame:
    """The configurations the sweep may select: all, except in a study with a reference variant (an ablation),
    which selects (and registers) its reference only; a variant above it within noise is not a better model."""
    if study.reference_variant is None or summary.empty or VARIANT not in summary:
        return summary
    chosen = summary[summary[VARIANT] == study.reference_variant]
    if chosen.empty:
        raise RCMLError(f"the reference variant {study.reference_variant!r} produced no validation result; an "
                        "ablation sweep selects only its reference (see the failed trials above)")
    return chosen


def _test_metrics(selection: Selection, storage: str, plan: TrialPlan, val_queries: int | None) -> list:
    """Each selected seed's `cluster.final_eval.SelectedEvaluation` (test, and the training-free score on val)."""
    from cluster.final_eval import evaluate_trials

    paths_ = selection.trials["checkpoint_path"].tolist()
    if any(p is None for p in paths_):
        raise RCMLError("a selected trial reported no checkpoint; cannot evaluate it on test")
    return evaluate_trials(paths_, storage, plan, split="test", val_queries=val_queries)


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


def _register(study, selection, test_metrics, storage, report_dir, handle, client, parent) -> str:
    from cluster.final_eval import fetch_best_checkpoint

    best = selection.trials.iloc[0]
    local = fetch_best_checkpoint(best["checkpoint_path"], storage, report_dir / "model" / "checkpoint")
    shown = {k: v for k, v in test_metrics.items() if not keys.is_interval_or_spread(k)}  # version tags: values only
    seed = run_tags.seed_value({SEED: best.get(SEED)})
    version = register_model(handle.uri, best["run_id"] or parent, local, study.name, shown,
                             {"rcml.sweep": handle.sweep_name, "rcml.trial_id": best["trial_id"],
                              "rcml.config": json.dumps(selection.config, default=str), "rcml.seed": seed})
    rule = (f"the reference variant {study.reference_variant!r} of an ablation study (ablated variants are "
            "reported as drops against it, never selected)" if study.reference_variant is not None else
            "the highest mean val Hit@5 (AVG similarity) over seeds; then its seed with the highest val Hit@5")
    seeds = [int(s) for s in selection.trials[SEED].dropna()] if SEED in selection.trials else []
    client.update_model_version(model_name(study.name), version.version, description=run_metadata.version_description(
        study.name, run_tags.configuration_label(selection.config, list(selection.config)), seed, sorted(seeds), rule,
        handle.sweep_name))
    client.set_tag(parent, "rcml.registered_model", f"{model_name(study.name)}/{version.version}")
    return version.version


def _describe_children(client: MlflowClient, trials: pd.DataFrame, axes: list[str], base: list[str]) -> None:
    """Every child run's seed and configuration tags, git commit, dataset input and best checkpoint's location
    (tracking.run_metadata); the trials write their own config.json."""
    from cluster.final_eval import BEST

    data = next((o.split("=", 1)[1] for o in reversed(base) if o.startswith("data=")), None)
    commit, dataset = run_metadata.git_commit(paths.PROJECT_ROOT), run_metadata.dataset_input(data) if data else None
    for _, row in trials[trials["run_id"].astype(bool)].iterrows():
        config = {k: row[k] for k in (*axes, SEED) if k in row}
        tags = {run_tags.TAG_SEED: run_tags.seed_value(config),
                run_tags.TAG_CONFIGURATION: run_tags.configuration_label(config, axes)}
        if row.get("checkpoint_path"):
            tags[run_tags.TAG_BEST_CHECKPOINT] = f"{str(row['checkpoint_path']).rstrip('/')}/{BEST}"
        run_metadata.describe_run(client, row["run_id"], commit, dataset, tags=tags)


def _reconciled_run(handle: SweepTracking, trial: pd.Series, client: MlflowClient) -> str:
    """The trial's child run, brought in line with Tune's record (tracking.sweep_runs.settle_trial_run)."""
    return settle_trial_run(handle, trial["trial_id"], trial["status"], str(trial["error"]), client)
