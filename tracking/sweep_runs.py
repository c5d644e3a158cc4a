"""One MLflow parent run per sweep, exactly one nested child run per trial.

Runs are found again by tags, never by name, so that restarts and resumes reuse them:

    parent  tags rcml.role=sweep, rcml.sweep=<sweep name>
    child   tags rcml.role=trial, rcml.sweep=<sweep name>, rcml.trial_id=<Tune trial id>,
            mlflow.parentRunId=<parent run id> (the UI nests it)

A restarted trial (Ray retry, `--resume`) finds its run by trial id and sets it RUNNING
again instead of creating a duplicate. A driver that dies without a word (SIGKILL, the OOM
killer, a preempted head) leaves its parent and its running children RUNNING: `--resume`
finds them (`adopt_orphans`), tags them `rcml.orphaned` / `rcml.driver_lost` and re-attaches
them, and the resumed sweep ends each in line with Tune's record. Status changes go through `end_run`; a run that
ends early records why in `rcml.stopped_by` (`asha`, `early_stopping`).

`SweepTracking` is the small picklable handle a trial process receives.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from rcml_core.errors import RCMLError
from tracking.redact import redact_value
from tracking.store import TrackingTarget

TAG_ROLE = "rcml.role"
TAG_SWEEP = "rcml.sweep"
TAG_TRIAL = "rcml.trial_id"
TAG_STOPPED_BY = "rcml.stopped_by"
TAG_FAILURE = "rcml.failure"
TAG_PARENT = "mlflow.parentRunId"
TAG_ORPHANED = "rcml.orphaned"
TAG_DRIVER_LOST = "rcml.driver_lost"

FINISHED, FAILED, KILLED, RUNNING = "FINISHED", "FAILED", "KILLED", "RUNNING"
TERMINAL = (FINISHED, FAILED, KILLED)


@dataclass(frozen=True)
class SweepTracking:
    """What a trial needs to record into its sweep (picklable, passed to Ray)."""

    uri: str
    experiment_id: str
    parent_run_id: str
    sweep_name: str

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


def get_or_create_experiment(client: MlflowClient, name: str, target: TrackingTarget) -> str:
    """Experiment id of `name`, created (with the target's artifact root) or restored when needed."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = f"{target.artifact_root.rstrip('/')}/{name}" if target.artifact_root else None
        return client.create_experiment(name, artifact_location=location)
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return experiment.experiment_id


def get_run(client: MlflowClient, run_id: str) -> Run:
    """The run `run_id`; an RCMLError naming the store and MLflow's reason when it cannot be read."""
    try:
        return client.get_run(run_id)
    except MlflowException as exc:
        raise RCMLError(f"run {run_id!r}: not found in the MLflow store {client.tracking_uri} "
                        f"({exc.message.splitlines()[0] if exc.message else exc})") from None


def find_runs(client: MlflowClient, experiment_id: str, tags: Mapping[str, str]) -> list[Run]:
    """Runs of the experiment carrying every tag in `tags` (oldest first)."""
    clause = " and ".join(f"tags.`{k}` = {_quote(v)}" for k, v in tags.items())
    return list(client.search_runs([experiment_id], filter_string=clause, max_results=50000,
                                   order_by=["attributes.start_time ASC"]))


def start_parent_run(client: MlflowClient, experiment_id: str, sweep_name: str, tags: Mapping[str, str]) -> str:
    """The sweep's parent run: found by its sweep name (resume) or created; RUNNING either way."""
    found = find_runs(client, experiment_id, {TAG_ROLE: "sweep", TAG_SWEEP: sweep_name})
    if found:
        run_id = found[0].info.run_id
        client.update_run(run_id, status=RUNNING)
    else:
        run_id = client.create_run(experiment_id, run_name=sweep_name,
                                   tags={TAG_ROLE: "sweep", TAG_SWEEP: sweep_name}).info.run_id
    for key, value in tags.items():
        client.set_tag(run_id, key, redact_value(key, value))
    return run_id


def trial_runs(handle: SweepTracking, client: MlflowClient | None = None) -> list[Run]:
    """Every child run of the sweep."""
    client = client or handle.client()
    return find_runs(client, handle.experiment_id, {TAG_PARENT: handle.parent_run_id, TAG_ROLE: "trial"})


def find_trial_run(handle: SweepTracking, trial_id: str, client: MlflowClient | None = None) -> Run | None:
    client = client or handle.client()
    found = find_runs(client, handle.experiment_id, {TAG_PARENT: handle.parent_run_id, TAG_TRIAL: trial_id})
    return found[0] if found else None


def start_trial_run(handle: SweepTracking, trial_id: str, run_name: str, tags: Mapping[str, str] | None = None,
                    client: MlflowClient | None = None) -> str:
    """The trial's child run: reused when the trial restarts (same trial id), else created. RUNNING."""
    client = client or handle.client()
    run = find_trial_run(handle, trial_id, client)
    if run is not None:
        run_id = run.info.run_id
        if run.info.status != RUNNING:
            client.update_run(run_id, status=RUNNING)
        for key in (TAG_STOPPED_BY, TAG_FAILURE):
            if key in run.data.tags:
                client.delete_tag(run_id, key)
    else:
        base = {TAG_ROLE: "trial", TAG_SWEEP: handle.sweep_name, TAG_TRIAL: trial_id, TAG_PARENT: handle.parent_run_id}
        run_id = client.create_run(handle.experiment_id, run_name=run_name, tags=base).info.run_id
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, redact_value(key, value))
    return run_id


def end_run(client: MlflowClient, run_id: str, status: str, tags: Mapping[str, str] | None = None) -> None:
    """Set tags, then the terminal status (FINISHED / FAILED / KILLED)."""
    if status not in TERMINAL:
        raise ValueError(f"status must be one of {TERMINAL}, got {status!r}")
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, redact_value(key, value)[:8000])
    client.set_terminated(run_id, status=status)


def settle_trial_run(handle: SweepTracking, trial_id: str, tune_status: str, failure: str = "",
                     client: MlflowClient | None = None) -> str:
    """The trial's child run in line with Tune's record; its id. Created if the trial never opened one; a RUNNING run
    ended FINISHED (Tune: TERMINATED) or FAILED with `failure` (ERROR); an ended run (a trial's own FAILED) kept."""
    client = client or handle.client()
    run = find_trial_run(handle, trial_id, client)
    run_id = run.info.run_id if run is not None else start_trial_run(handle, trial_id, trial_id, client=client)
    if run is None or run.info.status == RUNNING:
        if tune_status == "TERMINATED":
            end_run(client, run_id, FINISHED)
        elif tune_status == "ERROR":
            end_run(client, run_id, FAILED, {TAG_FAILURE: failure[:2000]})
    return run_id


def kill_running_children(handle: SweepTracking, client: MlflowClient | None = None) -> int:
    """Mark every child still RUNNING as KILLED (the sweep was interrupted); returns how many."""
    client = client or handle.client()
    running = [run for run in trial_runs(handle, client) if run.info.status == RUNNING]
    for run in running:
        end_run(client, run.info.run_id, KILLED)
    return len(running)


def adopt_orphans(client: MlflowClient, experiment_id: str, sweep_name: str) -> int:
    """Before a resumed sweep reopens its parent: mark the runs a dead driver left RUNNING; how many children.

    A driver that stops normally (done, Ctrl+C, SIGTERM, an error) ends its parent and running children, so a
    parent still RUNNING at resume means its driver died. Its RUNNING children are tagged and kept RUNNING: a
    trial Tune restarts reopens its own run (the same run, its metric history continued), and a trial Tune
    recorded as done is ended with Tune's status once the sweep completes (or KILLED if it is interrupted again).
    """
    parents = find_runs(client, experiment_id, {TAG_ROLE: "sweep", TAG_SWEEP: sweep_name})
    if not parents or parents[0].info.status != RUNNING:
        return 0
    parent = parents[0].info.run_id
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    client.set_tag(parent, TAG_DRIVER_LOST, f"the driver died while the sweep ran; resumed at {when}")
    children = find_runs(client, experiment_id, {TAG_PARENT: parent, TAG_ROLE: "trial"})
    orphans = [r for r in children if r.info.status == RUNNING]
    for run in orphans:
        client.set_tag(run.info.run_id, TAG_ORPHANED, f"left RUNNING by a driver that died; re-attached by "
                                                      f"--resume at {when}")
    return len(orphans)
