"""`MlflowTracker`: the training loop's Tracker (rcml_core.train.tracker) recording into one MLflow run.

Only rank 0 of a trial is given one. Names are mapped to what MLflow accepts: MLflow keys may
not contain '@', so `val/hit@5` is recorded as `val/hit_at_5` (`mlflow_key`). Params are
flattened (`model.beta`), stringified and logged in batches; a resumed trial re-logs the same
params, and a param whose value changed on resume (e.g. `train.epochs`) is kept as first
logged, with the new value recorded as a tag `rcml.param_changed.<key>`. Nothing that looks like a
credential is recorded: params, tags and artifact files pass through tracking.redact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

from rcml_core.train.tracker import flatten
from tracking.redact import redact_value, redacted_copy, secret_values


def mlflow_key(name: str) -> str:
    """A metric/param name MLflow accepts: `val/hit@5` -> `val/hit_at_5`."""
    return name.replace("@", "_at_")


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_VAL_LENGTH else text[: MAX_PARAM_VAL_LENGTH - 3] + "..."


class MlflowTracker:
    """Records params, metrics (with step), tags and artifacts into run `run_id`.

    `while_running=True` (a trial's worker): writes are dropped once the run has ended. When ASHA
    stops a trial, Tune ends the trial's actor and the driver ends its run FINISHED; the Train worker
    dies a moment later and may finish one more epoch in between, which must not be recorded.
    """

    def __init__(self, client: MlflowClient, run_id: str, while_running: bool = False) -> None:
        self.client = client
        self.run_id = run_id
        self.while_running = while_running

    def _open(self) -> bool:
        return not self.while_running or self.client.get_run(self.run_id).info.status == "RUNNING"

    def _log_batches(self, kind: str, rows: list, size: int) -> None:
        """`rows` as log_batch(<kind>=...) calls of at most `size` entities each (MLflow's per-request limits)."""
        for start in range(0, len(rows), size):
            self.client.log_batch(self.run_id, **{kind: rows[start : start + size]})

    def log_params(self, params: Mapping[str, Any]) -> None:
        if not self._open():
            return
        existing = self.client.get_run(self.run_id).data.params
        new, changed = [], []
        secrets = secret_values()
        for key, value in flatten(params).items():
            key, text = mlflow_key(key), _param_value(redact_value(key, value, secrets))
            if key not in existing:
                new.append(Param(key, text))
            elif existing[key] != text:
                changed.append(RunTag(f"rcml.param_changed.{key}", text))
        self._log_batches("params", new, MAX_PARAMS_TAGS_PER_BATCH)
        self._log_batches("tags", changed, MAX_PARAMS_TAGS_PER_BATCH)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if not self._open():
            return
        now = int(time.time() * 1000)
        rows = []
        for key, value in metrics.items():
            value = float(value)
            if math.isnan(value):
                continue  # MLflow stores NaN, but it breaks charts and comparisons; absent is clearer
            rows.append(Metric(mlflow_key(key), value, now, int(step)))
        self._log_batches("metrics", rows, MAX_METRICS_PER_BATCH)

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        if not self._open():
            return
        path = Path(path)
        with redacted_copy(path) as clean:
            if clean.is_dir():
                self.client.log_artifacts(self.run_id, str(clean), artifact_path=artifact_path or path.name)
            else:
                self.client.log_artifact(self.run_id, str(clean), artifact_path=artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        if not self._open():
            return
        secrets = secret_values()
        rows = [RunTag(str(k), redact_value(str(k), v, secrets)) for k, v in tags.items()]
        self._log_batches("tags", rows, MAX_PARAMS_TAGS_PER_BATCH)
