"""Where runs are recorded: the MLflow tracking URI, the artifact root, a reachability check.

`MLFLOW_TRACKING_URI` wins when set (a tracking server on a cluster, `databricks`, a
shared database). Otherwise runs go to a local SQLite store in the sweep's home folder
(`<home>/mlflow.db`) with artifacts beside it (`<home>/mlartifacts`): MLflow 3 refuses a
plain file store, and SQLite also gives the model registry.

`check_reachable` runs before any Ray work: a server that cannot be reached is an error
at start (with the URI and the cause), not a failure an hour into the sweep.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from rcml_core.errors import RCMLError
from rcml_core.writable import StorageError, require_writable

DB_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"


class TrackingUnavailable(RCMLError):
    """The MLflow tracking store cannot be reached or written."""


class TrackingLost(RCMLError):
    """The tracking server stopped answering mid-sweep, past MLflow's retries: the sweep stops with Tune's state
    kept, the runs left as they are, and `--resume` continues it once the server answers (docs/reliability.md)."""


@dataclass(frozen=True)
class TrackingTarget:
    uri: str  # MLflow tracking URI
    artifact_root: str | None  # artifact location for new experiments; None: the server decides

    @property
    def is_local_sqlite(self) -> bool:
        return self.uri.startswith("sqlite:///")

    @property
    def is_server(self) -> bool:
        return urlparse(self.uri).scheme in ("http", "https")

    def ui_command(self, experiment_id: str | None = None) -> str:
        """The command (or address) that opens the MLflow UI on these runs: with `experiment_id`, the address of
        the experiment's training runs (MLflow 3 opens an experiment on its GenAI overview otherwise)."""
        page = f"/#/experiments/{experiment_id}/runs?workflowType=machine_learning" if experiment_id else ""
        if self.is_server:
            return f"open {self.uri.rstrip('/')}{page} in a browser"
        root = f" --default-artifact-root {self.artifact_root}" if self.is_local_sqlite else ""
        return (f"mlflow ui --backend-store-uri {self.uri}{root} --host 127.0.0.1 --port 5000   "
                f"# then open http://127.0.0.1:5000{page}")


def resolve_tracking(home: Path | str, env: Mapping[str, str] | None = None) -> TrackingTarget:
    """`MLFLOW_TRACKING_URI` if set, else SQLite in `home` with artifacts beside it."""
    env = os.environ if env is None else env
    uri = env.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return TrackingTarget(uri=uri, artifact_root=None)
    home = Path(home).resolve()
    return TrackingTarget(uri=f"sqlite:///{home / DB_FILE}", artifact_root=(home / ARTIFACTS_DIR).as_uri())


def _check_server(uri: str, timeout_s: float) -> None:
    """GET <uri>/api/2.0/mlflow/experiments/search: the server answers and speaks MLflow."""
    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return  # reachable; MLflow's own client will use the configured credentials
        raise TrackingUnavailable(
            f"MLflow tracking server {uri} answered HTTP {exc.code} to {url}; is it an MLflow server?"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnavailable(
            f"cannot reach the MLflow tracking server {uri} (MLFLOW_TRACKING_URI) within {timeout_s:.0f} s: {reason}. "
            "Start it, fix the URI, or unset MLFLOW_TRACKING_URI to record into a local SQLite store"
        ) from None


def _check_sqlite(target: TrackingTarget) -> None:
    """The store's folder, its file and the artifact folder can be written (real writes: root, read-only mounts)."""
    path = Path(target.uri[len("sqlite:///"):])
    try:
        require_writable(path.parent, "the folder of the MLflow store")
        if path.exists() and not os.access(path, os.W_OK):
            raise TrackingUnavailable(f"the MLflow store {path} is not writable (read-only file)")
        if target.artifact_root:
            require_writable(urlparse(target.artifact_root).path, "the MLflow artifact folder")
    except StorageError as exc:
        raise TrackingUnavailable(str(exc)) from None


def check_reachable(target: TrackingTarget, timeout_s: float = 10.0) -> None:
    """Raise TrackingUnavailable, naming the URI and the cause, when runs could not be recorded."""
    if target.is_server:
        _check_server(target.uri, timeout_s)
    elif target.is_local_sqlite:
        _check_sqlite(target)
