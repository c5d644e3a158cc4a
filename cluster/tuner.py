"""The Ray Tune side of a sweep: the Tuner for a study (new or restored) and Ctrl+C / SIGTERM handling.

Grid studies use Tune's grid search with FIFO scheduling (every configuration trains to the end, so
the figures compare like with like); search studies use OptunaSearch (TPE) on a define-by-run space
with a persistent Optuna storage, and ASHA on `val/hit@5` per epoch.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from cluster import paths, ray_compat
from cluster.resources import TrialPlan
from cluster.study import SEED, Study
from cluster.sweep_settings import SweepSettings
from rcml_core.eval.keys import SELECTION_METRIC


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


def build_tuner(study: Study, trainable, settings: SweepSettings, sweep_name: str, storage: str, home: Path,
                plan: TrialPlan, epochs: int, callbacks: list, restore: bool):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    ray_compat.quiet_tune()
    asha = (study.is_search if settings.asha is None else settings.asha) and epochs > 1
    scheduler = (ASHAScheduler(time_attr="epoch", metric=SELECTION_METRIC, mode="max", max_t=epochs,
                               grace_period=1, reduction_factor=2) if asha else FIFOScheduler())
    param_space = {axis: tune.grid_search(list(values)) for axis, values in study.grid.items()}
    if not study.is_search:
        param_space[SEED] = tune.grid_search(list(settings.run_seeds))
    if restore:
        return tune.Tuner.restore(paths.experiment_path(storage, sweep_name), trainable,
                                  param_space=param_space or None, resume_unfinished=True)
    search_alg = None
    if study.is_search:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        from tracking.optuna_report import optuna_storage_uri

        search_alg = OptunaSearch(_SeededSpace(study.search, settings.run_seeds[0]), metric=SELECTION_METRIC,
                                  mode="max", study_name=sweep_name, seed=settings.run_seeds[0],
                                  storage=optuna.storages.RDBStorage(optuna_storage_uri(home)))
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
        run_config=tune.RunConfig(name=sweep_name, storage_path=storage, callbacks=callbacks, verbose=0,
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
