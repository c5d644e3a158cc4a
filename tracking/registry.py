"""Register a sweep's selected model in the MLflow model registry.

The selected trial's best checkpoint is logged under the sweep's parent run as an MLflow
pyfunc model (tracking.pyfunc_model) and registered as `rcml-<study>`; the new version
carries that checkpoint's own test metrics as tags, named as on its trial's run (`final/test/hit_at_5`:
one checkpoint, one seed; the configuration's mean over seeds is the parent's `selected/test/...`), the
trial it came from, and the alias `champion` points at it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from rcml_core.eval import keys
from tracking import pyfunc_model
from tracking.mlflow_tracker import mlflow_key
from tracking.redact import redact_value

CHAMPION_ALIAS = "champion"


def model_name(study: str) -> str:
    return f"rcml-{study}"


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for package in ("torch", "transformers", "tokenizers", "safetensors", "pillow", "pandas", "numpy"):
        try:
            reqs.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return reqs


@contextlib.contextmanager
def _fluent_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (log_model) records where the global tracking URI points; set it for the call only.

    `mlflow.set_tracking_uri` also exports MLFLOW_TRACKING_URI, which would send every later sweep of this
    process (and its subprocesses) to this store; the previous value is put back.
    """
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)


def register_model(tracking_uri: str, run_id: str, checkpoint: Path, study: str,
                   metrics: Mapping[str, float], tags: Mapping[str, str]) -> ModelVersion:
    """Log `checkpoint` as a pyfunc model under run `run_id` and register it as rcml-<study>.

    metrics: the checkpoint's own evaluation (`test/hit@5`, ...), tagged `final/test/hit_at_5`, ..."""
    client = MlflowClient(tracking_uri)
    name = model_name(study)
    with _fluent_tracking_uri(tracking_uri), mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc_model.__file__,  # models from code: no pickled instance
            artifacts={pyfunc_model.CHECKPOINT_ARTIFACT: str(checkpoint)},
            pip_requirements=_requirements(),
            signature=pyfunc_model.signature(),
        )
    version_tags = {mlflow_key(keys.staged(keys.FINAL, k)): f"{float(v):.6g}" for k, v in metrics.items()}
    version_tags.update({k: redact_value(k, v) for k, v in tags.items()})
    with _fluent_tracking_uri(tracking_uri):
        version = mlflow.register_model(info.model_uri, name, tags=version_tags)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, version.version)
    return version
