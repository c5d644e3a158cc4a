"""The tune stage of a sweep (cluster.launcher): the Tuner for a study (new or restored), run until it ends or
is interrupted (Ctrl+C / SIGTERM), and Tune's saved record of its trials.

Grid studies use Tune's grid search with FIFO scheduling (every configuration trains to the end, so
the figures compare like with like); search studies use OptunaSearch (TPE) on a define-by-run space
with a persistent Optuna storage, and ASHA on `val/hit@5` per epoch.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cluster import paths, ray_compat
from cluster.outcome import trials_table
from cluster.study import SEED
from cluster.sweep_settings import SweepContext
from rcml_core.eval.keys import SELECTION_METRIC
from rcml_core.writable import StorageError


@dataclass(frozen=True)
class Tuned:
    """What the tune stage hands to conclude."""

    trials: pd.DataFrame  # one row per trial of Tune's saved record (cluster.outcome.trials_table)
    axes: list[str]  # what tells configurations apart (a search: its sampled parameters)
    interrupted: bool  # stopped by Ctrl+C / SIGTERM, or trials missing or unfinished


def tune_study(ctx: SweepContext) -> Tuned:
    """Run the study's trials on Ray Tune (restoring the Tuner of a resumed sweep); Tune's record of them."""
    from ray import tune
    from ray.tune import ExperimentAnalysis

    from cluster.callbacks import ProgressCallback, StopOnStorageRefusal, TrialRunsCallback, UsageCallback
    from cluster.tracking_relay import start_relay, stop_relay
    from cluster.trial import TrialSettings, run_trial

    settings, study = ctx.settings, ctx.study
    relay = start_relay(ctx.tracking)  # the trials' MLflow writes go through it; it starts while Tune is set up
    trial_settings = TrialSettings(
        study=study.for_trials(), preset=settings.preset, overrides=ctx.base, runs_root=str(ctx.runs_root),
        train_storage=f"{ctx.experiment_path}/train_runs", plan=ctx.plan, tracking=relay,
        max_failures=settings.max_failures, final_splits=settings.final_splits,
    )
    trainable = tune.with_resources(tune.with_parameters(run_trial, settings=trial_settings), ctx.plan.trial_resources)
    restore = bool(settings.resume) and tune.Tuner.can_restore(ctx.experiment_path)
    refused = StopOnStorageRefusal()
    tuner = build_tuner(ctx, trainable, [UsageCallback(ctx.tracking, ctx.plan, settings.node_prices),
                                         TrialRunsCallback(ctx.tracking, ctx.epochs), refused,
                                         ProgressCallback(list(study.axes), ctx.n_trials)], restore)
    try:
        with sigterm_as_interrupt() as signals:
            tuner.fit()
    except Exception as exc:  # a full storage can also truncate what Tune reads back at the end of fit()
        if refused.refusal is None:
            raise
        raise _storage_stop(ctx, refused.refusal) from exc
    finally:
        stop_relay(relay)
    if refused.refusal is not None:  # Tune's record on a full storage may be truncated: not read
        raise _storage_stop(ctx, refused.refusal)
    # Tune's saved record, not the in-memory one: after Ctrl+C, Tune's clean-up marks the trials it stopped
    # TERMINATED in memory, while its saved state (what --resume reads) keeps them RUNNING, and trials of a
    # grid or search that were not created yet are in neither.
    analysis = ExperimentAnalysis(ctx.experiment_path, storage_filesystem=paths.storage_root(ctx.storage)[0])
    axes = list(study.axes) if not study.is_search else sorted(
        {k for t in analysis.trials for k in t.config} - {SEED})
    trials = trials_table(analysis, axes)
    interrupted = (signals["terminated"] or len(trials) < ctx.n_trials
                   or bool((~trials["status"].isin(["TERMINATED", "ERROR"])).any()))
    return Tuned(trials=trials, axes=axes, interrupted=interrupted)


def _storage_stop(ctx: SweepContext, refusal: str) -> StorageError:
    return StorageError(f"a disk refused a trial's write, so the sweep stopped ({refusal}); free space on --storage "
                        f"{ctx.storage} or --home {ctx.home}, then --resume {ctx.sweep_name}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[dict[str, bool]]:
    """SIGTERM during the Tune loop is handled like Ctrl+C: Tune stops, saves its state and returns.
    The yielded dict's "terminated" says whether it happened."""
    state = {"terminated": False}

    def handle(*_) -> None:
        state["terminated"] = True
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, handle)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


class _SeededSpace:
    """Define-by-run space with the sweep's seed added (a class, so the searcher state pickles)."""

    def __init__(self, search: Callable, seed: int) -> None:
        self.search, self.seed = search, seed

    def __call__(self, trial) -> dict:
        return {**(self.search(trial) or {}), SEED: self.seed}


def build_tuner(ctx: SweepContext, trainable, callbacks: list, restore: bool):
    """The sweep's Tuner: new, or restored from its experiment folder (`restore`)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    ray_compat.quiet_tune()
    study, settings, plan = ctx.study, ctx.settings, ctx.plan
    asha = (study.is_search if settings.asha is None else settings.asha) and ctx.epochs > 1
    scheduler = (ASHAScheduler(time_attr="epoch", metric=SELECTION_METRIC, mode="max", max_t=ctx.epochs,
                               grace_period=1, reduction_factor=2) if asha else FIFOScheduler())
    param_space = {axis: tune.grid_search(list(values)) for axis, values in study.grid.items()}
    if not study.is_search:
        param_space[SEED] = tune.grid_search(list(settings.run_seeds))
    if restore:
        fs, root = paths.storage_root(ctx.experiment_path)
        ray_compat.drop_truncated_trial_errors(root, fs)  # a full disk can have cut these short
        ray_compat.restore_cut_short_state(root, fs)
        # Failed trials run again from their latest checkpoint: a resume follows a fixed cause (a full disk,
        # a lost tracking server); a trial that fails on its own fails again, alone, as before.
        return tune.Tuner.restore(ctx.experiment_path, trainable, param_space=param_space or None,
                                  resume_unfinished=True, resume_errored=True)
    search_alg = None
    if study.is_search:
        import optuna

        from tracking.optuna_report import optuna_storage_uri

        seed = settings.run_seeds[0]
        search_alg = ray_compat.ResumableOptunaSearch(
            _SeededSpace(study.search, seed), metric=SELECTION_METRIC, mode="max", study_name=ctx.sweep_name,
            seed=seed, storage=optuna.storages.RDBStorage(optuna_storage_uri(ctx.home)))
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(search_alg=search_alg, scheduler=scheduler,
                                    num_samples=study.num_samples if study.is_search else 1,
                                    max_concurrent_trials=plan.max_concurrent_trials,
                                    # Reusing trial actors saves a process start and its imports per trial
                                    # (6-trial smoke sweep: 151 s -> 122 s), where the trial path allows it.
                                    reuse_actors=plan.path.reuse_actors(asha)),
        # Tune keeps each trial's latest checkpoint; who retries a trial is the trial path's choice.
        run_config=tune.RunConfig(name=ctx.sweep_name, storage_path=ctx.storage, callbacks=callbacks, verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                                  failure_config=tune.FailureConfig(
                                      max_failures=plan.path.tune_retries(settings.max_failures))),
    )


def end_orphaned_optuna_trials(sweep_name: str, home: Path) -> int:
    """After a search sweep ran to its end: end FAIL the Optuna trials still RUNNING, and list them in the study's
    user attribute `rcml.orphaned_trials`; returns how many. Every trial Tune knows has been told by then, so these
    were asked by a driver that died (SIGKILL) before Tune saved them: the resumed searcher proposed afresh."""
    import optuna

    from tracking.optuna_report import optuna_storage_uri

    study = optuna.load_study(study_name=sweep_name, storage=optuna_storage_uri(home))
    orphans = [t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
    for number in orphans:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    if orphans:
        study.set_user_attr("rcml.orphaned_trials", [*study.user_attrs.get("rcml.orphaned_trials", []), *orphans])
    return len(orphans)
