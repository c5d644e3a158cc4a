"""`TrialRecorder`: every MLflow write of a sweep's trials, in one process (the sweep's tracking relay).

Trials do not talk to MLflow themselves: they send what they record (run id, params, metrics,
tags, artifact files as bytes) to one relay on the driver's node, which holds this recorder
(cluster.tracking_relay). A trial then never imports MLflow and its SQL store (1.5-2 s of a
trial's start on a 2-core machine), nor needs to reach the tracking store: a local SQLite store
works for trials on every node of a cluster, and artifacts land where the driver records them.

The recorder keeps `MlflowTracker`'s rules: names mapped to what MLflow accepts, params logged
once (a changed value becomes an `rcml.param_changed.*` tag), and a run's writes dropped once the
driver has ended it (a trial ASHA stopped may still finish an epoch on its Train worker).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from tracking.mlflow_tracker import MlflowTracker
from tracking.sweep_runs import SweepTracking, start_trial_run


def _safe_relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"artifact file name {name!r} must be a relative path inside its folder")
    return path


class TrialRecorder:
    """Records into the child runs of one sweep (`handle`) with one MLflow client."""

    def __init__(self, handle: SweepTracking) -> None:
        self.handle = handle
        self.client = handle.client()

    def _tracker(self, run_id: str) -> MlflowTracker:
        return MlflowTracker(self.client, run_id, while_running=True)

    def start_trial_run(self, trial_id: str, run_name: str, tags: Mapping[str, str] | None = None) -> str:
        """The trial's child run, created or (restarted trial) reopened RUNNING; its run id."""
        return start_trial_run(self.handle, trial_id, run_name, tags=tags, client=self.client)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self._tracker(run_id).log_params(params)

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int) -> None:
        self._tracker(run_id).log_metrics(metrics, step)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self._tracker(run_id).set_tags(tags)

    def log_artifact(self, run_id: str, files: Mapping[str, bytes], artifact_path: str | None = None) -> None:
        """`MlflowTracker.log_artifact` of a file or folder the trial sent as `files` (its name, or the
        folder's name / relative path, -> content): a file lands at `artifact_path/<name>`, a folder's
        files under `artifact_path`, or under the folder's name when there is none."""
        with tempfile.TemporaryDirectory(prefix="rcml-artifacts-") as folder:
            root = Path(folder)
            for name, content in files.items():
                target = root / _safe_relative(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content)
            tracker = self._tracker(run_id)
            for entry in sorted(root.iterdir()):
                tracker.log_artifact(entry, artifact_path)
