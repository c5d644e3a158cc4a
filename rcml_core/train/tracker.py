"""The tracker interface the training loop talks to (docs/architecture.md, Layers).

Training code never imports mlflow: it receives a `Tracker`. `NoopTracker` drops
everything, `LocalTracker` writes a run folder (params.json, metrics.jsonl, tags.json,
artifacts/) for `rcml train`, and `tracking.mlflow_tracker.MlflowTracker` records into MLflow
(in a sweep, through the relay: cluster.tracking_relay). Only rank 0 of a distributed run is
given a real tracker.
"""

from __future__ import annotations

import json
import math
import shutil
import time
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


class LocalTracker:
    """A run folder: params.json, metrics.jsonl (one JSON object per log call), tags.json, artifacts/."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._params: dict[str, Any] = self._read_json("params.json")
        self._tags: dict[str, str] = self._read_json("tags.json")

    def _read_json(self, name: str) -> dict:
        path = self.root / name
        return json.loads(path.read_text()) if path.exists() else {}

    def _write_json(self, name: str, data: Mapping[str, Any]) -> None:
        tmp = self.root / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str))
        tmp.replace(self.root / name)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._params.update(flatten(params))
        self._write_json("params.json", self._params)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        row = {"step": int(step), "time": time.time()}
        row.update({k: (float(v) if math.isfinite(float(v)) else str(float(v))) for k, v in metrics.items()})
        with open(self.root / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        src = Path(path)
        dest_dir = self.root / "artifacts" / (artifact_path or "")
        dest_dir.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest_dir / src.name, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dest_dir / src.name)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self._tags.update({k: str(v) for k, v in tags.items()})
        self._write_json("tags.json", self._tags)

    def metrics(self) -> list[dict[str, Any]]:
        path = self.root / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
