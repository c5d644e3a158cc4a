"""The sweep's tracking relay: one Ray actor on the driver's node that makes every MLflow write of the trials.

    driver  start_relay(handle) -> relay            (launcher, once per sweep; stop_relay at the end)
    trial   open_trial_run(relay, trial_id, ...)    its child run id (created or reopened)
    worker  RelayTracker(relay, run_id)             the loop's Tracker on rank 0

A trial and its Train workers then import no MLflow (its import and SQL store cost 1.5-2 s of every
cold trial's start on a 2-core machine) and need no route to the tracking store: with the default
SQLite store in the sweep's home, trials on other nodes record through the relay like local ones.
What is sent is small: params, metrics, tags, and the loop's artifact files (metrics.json,
config.json) as bytes.

Calls are synchronous, in the caller's order: a trial's writes are done when its function returns,
before the driver ends its run (cluster.callbacks), and an error in MLflow surfaces in the trial as
`TrackingRelayError` naming the run. The relay takes no CPU from the trials (num_cpus=0) and is
restarted by Ray if its process dies (the call in flight then fails).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ray

from rcml_core.errors import RCMLError

RELAY_MAX_RESTARTS = 3


class TrackingRelayError(RCMLError):
    """A write through the sweep's tracking relay failed (MLflow refused it, or the relay is gone)."""


class _Relay:
    """The actor: forwards to a tracking.trial_recorder.TrialRecorder, imported in the actor only (a trial
    unpickling the relay's handle imports the actor class's module: this one, free of MLflow)."""

    def __init__(self, handle) -> None:
        from tracking.trial_recorder import TrialRecorder

        self.recorder = TrialRecorder(handle)

    def start_trial_run(self, trial_id: str, run_name: str, tags: dict[str, str]) -> str:
        return self.recorder.start_trial_run(trial_id, run_name, tags)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self.recorder.log_params(run_id, params)

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        self.recorder.log_metrics(run_id, metrics, step)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.recorder.set_tags(run_id, tags)

    def log_artifact(self, run_id: str, files: dict[str, bytes], artifact_path: str | None) -> None:
        self.recorder.log_artifact(run_id, files, artifact_path)


def start_relay(handle) -> Any:
    """The relay actor for sweep `handle` (tracking.sweep_runs.SweepTracking), on this (the driver's) node.

    Returns at once; the actor starts (and imports MLflow) while the driver goes on setting up Tune.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = ray.remote(_Relay).options(
        num_cpus=0, max_restarts=RELAY_MAX_RESTARTS,
        # the driver's node: a local SQLite store and artifact folder are paths there
        scheduling_strategy=NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False),
    )
    return actor.remote(handle)


def stop_relay(relay: Any) -> None:
    """End the relay (its calls are synchronous: nothing is left in flight once the trials are done)."""
    ray.kill(relay, no_restart=True)


def _call(relay: Any, method: str, run_id: str, *args: Any) -> Any:
    try:
        return ray.get(getattr(relay, method).remote(run_id, *args))
    except ray.exceptions.RayActorError as exc:
        raise TrackingRelayError(f"the sweep's MLflow tracking relay is gone ({method} for run {run_id}): "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        lines = [line for line in str(cause).splitlines() if line.strip()]
        raise TrackingRelayError(f"recording into MLflow failed ({method} for run {run_id}): "
                                 f"{type(cause).__name__}: {lines[-1] if lines else ''}") from None


def open_trial_run(relay: Any, trial_id: str, run_name: str, tags: Mapping[str, str] | None = None) -> str:
    """The trial's child run (created, or reopened RUNNING when the trial restarts); its run id."""
    return _call(relay, "start_trial_run", trial_id, run_name, dict(tags or {}))


def artifact_files(path: Path) -> dict[str, bytes]:
    """A file as {name: bytes}, a folder as {folder name/relative path: bytes} (what the relay re-creates)."""
    if path.is_dir():
        return {f"{path.name}/{p.relative_to(path).as_posix()}": p.read_bytes()
                for p in sorted(path.rglob("*")) if p.is_file()}
    if not path.is_file():
        raise TrackingRelayError(f"artifact {path} does not exist")
    return {path.name: path.read_bytes()}


class RelayTracker:
    """The training loop's Tracker (rcml_core.train.tracker) recording into run `run_id` through the relay."""

    def __init__(self, relay: Any, run_id: str) -> None:
        self.relay = relay
        self.run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        _call(self.relay, "log_params", self.run_id, dict(params))

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        _call(self.relay, "log_metrics", self.run_id, {k: float(v) for k, v in metrics.items()}, int(step))

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        _call(self.relay, "log_artifact", self.run_id, artifact_files(Path(path)), artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        _call(self.relay, "set_tags", self.run_id, {str(k): str(v) for k, v in tags.items()})
