"""Nothing that looks like a credential is recorded in MLflow: not as a param, a tag, nor inside an artifact.

Every path a sweep writes through is exercised on a local SQLite store: the tracker of the driver (params,
tags, artifact files and folders), the trials' recorder (artifact files sent as bytes through the relay),
the run lifecycle (parent/child tags, a failure message), with credentials in the environment the way a
user's shell holds them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cluster.tracking_relay import Files, TrackingRelay
from rcml_core.runtime.run_config import resolve_run_config
from rcml_core.train.tracker import flatten
from tracking.mlflow_tracker import MlflowTracker
from tracking.redact import REDACTED, is_secret_name
from tracking.store import check_reachable, resolve_tracking
from tracking.sweep_runs import FAILED, SweepTracking, end_run, get_or_create_experiment, start_parent_run

ENV_SECRETS = {
    "MLFLOW_TRACKING_PASSWORD": "pw-4c1d3f9e",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY",
    "HF_TOKEN": "hf_AbCdEfGhIjKlMnOp",
    "OPENAI_API_KEY": "sk-proj-0123456789",
}
CONFIG_SECRET = "s3cr3t-in-a-config-file"
URL_PASSWORD = "urlpass-77"


def _everything_recorded(client: MlflowClient, experiment_id: str, download_to: Path) -> str:
    """Every param, tag and artifact byte of every run of the experiment, as one text."""
    parts = []
    for run in client.search_runs([experiment_id]):
        parts += [f"{k}={v}" for k, v in run.data.params.items()]
        parts += [f"{k}={v}" for k, v in run.data.tags.items()]
        folder = download_to / run.info.run_id
        folder.mkdir(parents=True)
        client.download_artifacts(run.info.run_id, "", str(folder))
        parts += [p.read_bytes().decode("utf-8", "replace") for p in sorted(folder.rglob("*")) if p.is_file()]
    return "\n".join(parts)


def test_no_credential_reaches_a_param_tag_or_artifact(tmp_path: Path, monkeypatch) -> None:
    for key, value in ENV_SECRETS.items():
        monkeypatch.setenv(key, value)
    target = resolve_tracking(tmp_path / "home", env={})
    check_reachable(target)
    client = MlflowClient(target.uri)
    experiment = get_or_create_experiment(client, "rcml-secrets", target)
    parent = start_parent_run(client, experiment, "sweep-1", {"rcml.note": f"token {ENV_SECRETS['HF_TOKEN']}"})
    tracker = MlflowTracker(client, parent)
    tracker.log_params({"sweep": {"data": f"s3://rcml:{URL_PASSWORD}@bucket/data", "aws_secret_access_key": "x1",
                                  "api_key": "plain-api-key-value", "overrides": ["optim.lr=1e-4"]},
                        "note": f"password is {ENV_SECRETS['MLFLOW_TRACKING_PASSWORD']}"})
    tracker.set_tags({"db_password": "tag-secret-1234", "where": f"https://u:{URL_PASSWORD}@mlflow.example"})
    (tmp_path / "config.json").write_text(json.dumps({"storage": {"secret": CONFIG_SECRET, "path": "/x"},
                                                      "env": ENV_SECRETS["OPENAI_API_KEY"]}))
    report = tmp_path / "report"
    report.mkdir()
    (report / "summary.md").write_text(f"read with {ENV_SECRETS['AWS_SECRET_ACCESS_KEY']}\n")
    (report / "table.csv").write_text("a,b\n1,2\n")
    tracker.log_artifact(tmp_path / "config.json")
    tracker.log_artifact(report, artifact_path="report")

    handle = SweepTracking(target.uri, experiment, parent, "sweep-1")
    relay = TrackingRelay(handle)  # what the tracking relay runs for the trials
    child = relay.open_run("t1", "t1", {"password": "child-tag-secret"})
    relay.call(child, "log_params", ({"train": {"epochs": 2}, "auth_token": "trial-token-5678"},))
    relay.call(child, "log_artifact", (Files("metrics.json", {"": json.dumps(
        {"config": {"private_key": CONFIG_SECRET}}).encode()}),))
    relay.call(child, "log_artifact", (Files("log.txt", {"": f"HF_TOKEN={ENV_SECRETS['HF_TOKEN']}".encode()}),))
    end_run(client, child, FAILED, {"rcml.failure": f"cannot open s3://k:{URL_PASSWORD}@b/ckpt"})

    recorded = _everything_recorded(client, experiment, tmp_path / "downloaded")
    secrets = [*ENV_SECRETS.values(), CONFIG_SECRET, URL_PASSWORD, "x1", "plain-api-key-value", "tag-secret-1234",
               "child-tag-secret", "trial-token-5678"]
    assert [s for s in secrets if s in recorded] == []
    assert recorded.count(REDACTED) >= len(secrets)  # redacted where they were, not dropped silently
    params = client.get_run(parent).data.params
    assert params["sweep.overrides"] == "['optim.lr=1e-4']" and params["sweep.api_key"] == REDACTED
    assert (tmp_path / "report" / "table.csv").read_text() == "a,b\n1,2\n"  # the user's files are left alone
    assert CONFIG_SECRET in (tmp_path / "config.json").read_text()


def test_no_key_of_the_run_config_is_taken_for_a_credential() -> None:
    keys = list(flatten(resolve_run_config("tiny", None, []).to_dict()))
    assert keys and [k for k in keys if is_secret_name(k)] == []


@pytest.mark.parametrize("name", ["MLFLOW_TRACKING_PASSWORD", "AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "api_key",
                                  "storage.aws_access_key_id", "db.password", "client_secret", "token", "GH_TOKEN"])
def test_credential_names_are_recognised(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["backbone.max_text_tokens", "backbone.min_token_frequency", "sweep.keys",
                                  "monkey", "data", "MLFLOW_TRACKING_URI", "sort_keys_by"])
def test_ordinary_names_are_not(name: str) -> None:
    assert not is_secret_name(name)
