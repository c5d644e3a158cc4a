"""The one launcher every sweep script calls: study -> Ray Tune (+ Optuna, ASHA) -> selection -> test.

    result = run_sweep(study, SweepSettings(seeds=(0, 1, 2)))

Three stages share one frozen `SweepContext` (cluster/sweep_settings.py), each in one place:

1. prepare (`prepare`, here), so that every user error surfaces before any expensive work: resolve
   the dataset (the embedded synthetic catalog when none is given) and the budget, validate every
   trial configuration, check that MLflow can be reached, name the sweep (new) or find it again
   (`resume`), generate the embedded catalog once, connect to Ray, plan trial resources, open the
   sweep's MLflow parent run;
2. tune (`cluster.tuner.tune_study`): grid studies through Tune's grid search, search studies
   through OptunaSearch with ASHA; `resume` restores the Tuner, so finished trials are not rerun;
3. conclude (`cluster.conclude.conclude`): select (and confirm), test beside the CLIP baselines and
   the reference scorers, log, report, register, end the parent run FINISHED.

Interrupted (Ctrl+C or SIGTERM): Tune saves its state, running child runs and the parent
end KILLED, and the printed command resumes the sweep.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlflow.tracking import MlflowClient

from cluster import paths
from cluster.conclude import SweepResult, conclude
from cluster.connect import connect
from cluster.resources import plan_trials
from cluster.study import Study, format_override, validate_study
from cluster.storage import is_remote_uri, require_shared_storage
from cluster.sweep_settings import (
    SweepContext,
    SweepSettings,
    embedded_data,
    ensure_embedded_data,
    resolve_resume,
    write_settings,
)
from cluster.tuner import tune_study
from rcml_core.errors import RCMLError
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.writable import require_writable
from tracking import run_metadata
from tracking.mlflow_tracker import MlflowTracker
from tracking.store import TrackingLost, check_reachable, resolve_tracking
from tracking.sweep_runs import (
    FAILED,
    KILLED,
    SweepTracking,
    adopt_orphans,
    end_run,
    get_or_create_experiment,
    kill_running_children,
    start_parent_run,
)

def run_sweep(study: Study, settings: SweepSettings) -> SweepResult:
    """Run (or resume) the study: prepare -> tune -> conclude (see the module docstring)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    ctx = prepare(study, settings)
    try:
        _record_start(ctx)
        return conclude(ctx, tune_study(ctx))
    except BaseException as exc:
        if isinstance(exc, TrackingLost):  # the server is gone: the runs wait as they are for --resume
            raise
        status = KILLED if isinstance(exc, KeyboardInterrupt) else FAILED
        kill_running_children(ctx.tracking, ctx.client)
        end_run(ctx.client, ctx.parent, status, {"rcml.failure": f"{type(exc).__name__}: {exc}"[:2000]})
        raise


def prepare(study: Study, settings: SweepSettings) -> SweepContext:
    """Validate, name or find the sweep, make its data, connect to Ray and open its parent run."""
    home = Path(settings.home).resolve() if settings.home else paths.default_home()
    storage = settings.storage or str(home / "ray_results")
    require_writable(home, "--home")  # a clear error now, not a traceback from Tune or MLflow later
    if not is_remote_uri(storage):
        require_writable(storage.split("://", 1)[-1], "--storage")
    if settings.resume:
        study, settings = resolve_resume(study, settings, storage)
        sweep_name = settings.resume
    else:
        sweep_name = settings.name or paths.new_sweep_name(study.name)
        if sweep_name in paths.existing_sweeps(storage, study.name):
            raise RCMLError(f"a sweep named {sweep_name!r} exists under {storage}; --resume {sweep_name} continues it")
    data = Path(settings.data).resolve() if settings.data else embedded_data(home, settings.smoke_test)
    base = (("data", str(data)), *settings.budget(), *settings.overrides)
    validate_study(study, settings.preset, base, settings.run_seeds, num_workers=settings.resources.num_workers)
    target = resolve_tracking(home)
    check_reachable(target)
    if settings.data is None:
        ensure_embedded_data(data, settings.smoke_test)
    elif not (data / "manifest.json").is_file():
        raise RCMLError(f"--data {data}: not a dataset folder (no manifest.json); build one with `rcml data ...`")

    cluster = connect(settings.address)
    require_shared_storage(storage, cluster)
    plan = plan_trials(settings.resources, cluster, study.n_trials(len(settings.run_seeds)))
    client = MlflowClient(target.uri)
    experiment_id = get_or_create_experiment(client, f"rcml-{study.name}", target)
    run_metadata.describe_experiment(client, experiment_id)
    if settings.resume and (orphans := adopt_orphans(client, experiment_id, sweep_name)):
        print(f"sweep {sweep_name}: its driver died; {orphans} trial run(s) it left RUNNING are re-attached "
              "(tag rcml.orphaned)", flush=True)
    parent = start_parent_run(client, experiment_id, sweep_name, {"rcml.study": study.name})
    return SweepContext(study=study, settings=settings, sweep_name=sweep_name, storage=storage, home=home, data=data,
                        base=base, run_config=resolve_run_config(settings.preset, overrides=base), plan=plan,
                        target=target, tracking=SweepTracking(target.uri, experiment_id, parent, sweep_name),
                        client=client)


def _record_start(ctx: SweepContext) -> None:
    """The parent run's parameters and metadata, the settings --resume reads back, the opening line."""
    study, settings = ctx.study, ctx.settings
    MlflowTracker(ctx.client, ctx.parent).log_params({"sweep": {
        "study": study.name, "name": ctx.sweep_name, "preset": settings.preset, "data": str(ctx.data),
        "seeds": list(settings.run_seeds), "overrides": [o if isinstance(o, str) else format_override(*o) for o in ctx.base],
        "grid": {k: list(v) for k, v in study.grid.items()}, "num_samples": study.num_samples,
        "resources": ctx.plan.describe()}})
    run_metadata.describe_run(ctx.client, ctx.parent, run_metadata.git_commit(paths.PROJECT_ROOT),
                              run_metadata.dataset_input(ctx.data),
                              config=ctx.run_config.to_dict())
    if not settings.resume:
        write_settings(ctx)
    print(f"sweep {ctx.sweep_name}: {ctx.n_trials} trial(s), {ctx.plan.describe()}; data {ctx.data}; "
          f"MLflow {ctx.target.uri}", flush=True)
