"""The tracker interface the training loop talks to (docs/architecture.md, Layers).

Training code never imports mlflow: it receives a `Tracker`. `tracking.mlflow_tracker.MlflowTracker`
records into MLflow (in a sweep, through the relay: cluster.tracking_relay); `NoopTracker` drops
everything: non-zero ranks, and `rcml train`, whose record is its run folder (config.json,
metrics.json with every epoch, outcomes/, checkpoints/: rcml_core.runtime.layout).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


def flatten(tree: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """{"model": {"beta": 0.6}} -> {"model.beta": 0.6}; lists kept as values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


@runtime_checkable
class Tracker(Protocol):
    """What the loop records. The bodies here do nothing: `NoopTracker` is this protocol as it is."""

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None: ...

    def set_tags(self, tags: Mapping[str, str]) -> None: ...


class NoopTracker(Tracker):
    """Records nothing (non-zero ranks, quick experiments): the protocol's own empty methods."""
