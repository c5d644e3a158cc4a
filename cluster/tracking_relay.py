"""The sweep's tracking relay: the one path from a trial's `Tracker` calls to MLflow (docs/architecture.md).

    driver  start_relay(handle) -> relay            (launcher, once per sweep; stop_relay at the end)
    trial   open_trial_run(relay, trial_id, ...)    its child run id (created or reopened)
    worker  RelayTracker(relay, run_id)             the loop's Tracker on rank 0

`RelayTracker` implements no Tracker method: each call goes as (run id, method, arguments) to one actor on
the driver's node (`TrackingRelay`), which runs that method of `tracking.mlflow_tracker.MlflowTracker`; a
`Path` argument travels as its files' bytes (`Files`). A trial then imports no MLflow (1.5-2 s of a cold
trial's start on 2 cores) and needs no route to the store: trials on other nodes record like local ones.

Calls are synchronous, in the caller's order, done before the driver ends the trial's run
(cluster.callbacks); an MLflow error surfaces in the trial as `TrackingRelayError` naming the run. A server
that does not answer is retried by MLflow's HTTP client (`MLFLOW_HTTP_REQUEST_MAX_RETRIES`, `_BACKOFF_FACTOR`,
`_BACKOFF_JITTER`, `_TIMEOUT`: the relay gets the driver's values); past them the relay interrupts the driver
as Ctrl+C does and the sweep stops with `TrackingLost` (docs/reliability.md). num_cpus=0; Ray restarts it.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import ray

from rcml_core.errors import RCMLError
from tracking.store import TrackingLost, TrackingTarget, TrackingUnavailable, check_reachable

RELAY_MAX_RESTARTS = 3
LOST_WAIT_S = 300.0  # how long a trial waits for the interrupted driver to stop it (it takes seconds)
MLFLOW_RETRY_ENV = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
                    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "MLFLOW_HTTP_REQUEST_TIMEOUT")


class TrackingRelayError(RCMLError):
    """A write through the sweep's tracking relay failed (MLflow refused it, or the relay is gone)."""


@dataclass(frozen=True)
class Files:
    """A file or folder sent by value: its `name` and {path below it: bytes} (a file: {"": bytes})."""

    name: str
    content: dict[str, bytes]

    @classmethod
    def of(cls, path: Path) -> Files:
        if path.is_dir():
            return cls(path.name, {p.relative_to(path).as_posix(): p.read_bytes()
                                   for p in sorted(path.rglob("*")) if p.is_file()})
        if not path.is_file():
            raise TrackingRelayError(f"artifact {path} does not exist")
        return cls(path.name, {"": path.read_bytes()})

    def land(self, folder: Path) -> Path:
        """Re-create the file or folder in `folder`; its path."""
        root = folder / _safe_relative(self.name)
        for relative, data in self.content.items():
            target = root / _safe_relative(relative) if relative else root
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return root


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"artifact file name {name!r} must be a relative path inside its folder")
    return path


class TrackingRelay:
    """The actor: one MlflowClient; `call` runs `MlflowTracker(run).<method>(*args)`. MLflow is imported here
    only (trials import this module). `driver_pid`: whom to interrupt (SIGINT) once the server is lost."""

    def __init__(self, handle, driver_pid: int | None = None) -> None:
        self.handle, self.driver_pid = handle, driver_pid
        self.client = handle.client()
        self.lost: str | None = None

    def open_run(self, trial_id: str, run_name: str, tags: dict[str, str]) -> str:
        from tracking.sweep_runs import start_trial_run

        return self._guarded(start_trial_run, self.handle, trial_id, run_name, tags=tags, client=self.client)

    def call(self, run_id: str, method: str, args: tuple, kwargs: dict | None = None) -> None:
        from tracking.mlflow_tracker import MlflowTracker

        tracker = MlflowTracker(self.client, run_id, while_running=True)
        with tempfile.TemporaryDirectory(prefix="rcml-relay-") as folder:
            def land(value: Any) -> Any:
                return value.land(Path(folder)) if isinstance(value, Files) else value

            self._guarded(getattr(tracker, method), *map(land, args),
                          **{k: land(v) for k, v in (kwargs or {}).items()})

    def lost_reason(self) -> str | None:
        """Why the sweep must stop for its tracking server (lost during a write, or not answering now); None."""
        if self.lost is None and self.handle.uri.startswith(("http://", "https://")):
            try:
                check_reachable(TrackingTarget(self.handle.uri, None), timeout_s=5.0)
            except TrackingUnavailable as exc:
                return f"{exc}; Tune's state is kept: --resume {self.handle.sweep_name} once it answers"
        return self.lost

    def _guarded(self, fn, *args, **kwargs):
        if self.lost:
            raise TrackingLost(self.lost)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # an unreachable server: MLflow's HTTP client has retried already
            if not self.handle.uri.startswith(("http://", "https://")) or not any(
                    s in str(exc) for s in ("Max retries exceeded", "Connection refused", "timed out")):
                raise
            retries = {k: os.environ[k] for k in MLFLOW_RETRY_ENV if k in os.environ}
            self.lost = (f"the MLflow tracking server {self.handle.uri} stopped answering and MLflow's retries gave "
                         f"up ({retries or 'MLflow defaults: 7 retries, backoff factor 2'}); the sweep stops with "
                         f"Tune's state kept: start the server again, then --resume {self.handle.sweep_name}")
            if self.driver_pid:
                os.kill(self.driver_pid, signal.SIGINT)  # Tune stops and saves its state, as on Ctrl+C
            raise TrackingLost(self.lost) from None


def start_relay(handle) -> Any:
    """The relay actor of sweep `handle` (tracking.sweep_runs.SweepTracking) on this (the driver's) node. Returns
    at once: the actor starts (and imports MLflow) while the driver sets up Tune."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = ray.remote(TrackingRelay).options(
        num_cpus=0, max_restarts=RELAY_MAX_RESTARTS,
        runtime_env={"env_vars": {k: os.environ[k] for k in MLFLOW_RETRY_ENV if k in os.environ}},
        # the driver's node: a local SQLite store and artifact folder are paths there
        scheduling_strategy=NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False),
    )
    return actor.remote(handle, os.getpid())


def stop_relay(relay: Any) -> None:
    """End the relay (nothing is in flight once the trials are done); TrackingLost if the server was lost."""
    try:
        lost = ray.get(relay.lost_reason.remote(), timeout=30)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
        lost = None  # a relay gone or stuck: the trials' own errors tell
    ray.kill(relay, no_restart=True)
    if lost:
        raise TrackingLost(lost)


def _call(relay: Any, method: str, run_id: str, *args: Any, **kwargs: Any) -> Any:
    try:
        if method == "open_run":
            return ray.get(relay.open_run.remote(run_id, *args))
        return ray.get(relay.call.remote(run_id, method, args, kwargs))
    except ray.exceptions.RayActorError as exc:
        raise TrackingRelayError(f"the sweep's MLflow tracking relay is gone ({method} for run {run_id}): "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        if isinstance(cause, TrackingLost):
            # The relay has interrupted the driver: Tune stops this trial with the sweep, this epoch neither recorded
            # nor checkpointed (--resume trains it again). Raising now could make Tune record the trial failed.
            time.sleep(LOST_WAIT_S)
            raise TrackingLost(str(cause)) from None
        lines = [line for line in str(cause).splitlines() if line.strip()]
        raise TrackingRelayError(f"recording into MLflow failed ({method} for run {run_id}): "
                                 f"{type(cause).__name__}: {lines[-1] if lines else ''}") from None


def open_trial_run(relay: Any, trial_id: str, run_name: str, tags: Mapping[str, str] | None = None) -> str:
    """The trial's child run (created, or reopened RUNNING when the trial restarts); its run id."""
    return _call(relay, "open_run", trial_id, run_name, dict(tags or {}))


def _forward(method: str):
    def forward(self: RelayTracker, *args: Any, **kwargs: Any) -> None:
        def ship(value: Any) -> Any:
            return Files.of(value) if isinstance(value, Path) else value

        _call(self.relay, method, self.run_id, *map(ship, args), **{k: ship(v) for k, v in kwargs.items()})

    forward.__name__ = method
    return forward


class RelayTracker:
    """The loop's Tracker on run `run_id`: each method is MlflowTracker's, run by the relay (artifacts as Paths)."""

    def __init__(self, relay: Any, run_id: str) -> None:
        self.relay, self.run_id = relay, run_id

    log_params = _forward("log_params")
    log_metrics = _forward("log_metrics")
    log_artifact = _forward("log_artifact")
    set_tags = _forward("set_tags")
