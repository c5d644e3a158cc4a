"""The sweep's tracking relay: trials record into their MLflow child runs through one actor on the driver's
node, with the tracker's rules kept, errors surfacing in the trial, and no MLflow imported trial-side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cluster.tracking_relay import (
    Files,
    RelayTracker,
    TrackingRelay,
    TrackingRelayError,
    open_trial_run,
    start_relay,
    stop_relay,
)
from tracking.store import resolve_tracking
from tracking.sweep_runs import FINISHED, TAG_TRIAL, SweepTracking, end_run, get_or_create_experiment, start_parent_run

ROOT = Path(__file__).resolve().parents[2]


def _sweep(home: Path, name: str) -> tuple[SweepTracking, MlflowClient]:
    target = resolve_tracking(home, env={})
    client = MlflowClient(target.uri)
    experiment = get_or_create_experiment(client, f"rcml-{name}", target)
    return SweepTracking(target.uri, experiment, start_parent_run(client, experiment, name, {}), name), client


def test_the_relay_runs_the_mlflow_trackers_methods_on_the_run_it_is_sent(tmp_path: Path) -> None:
    handle, client = _sweep(tmp_path, "recorder")
    relay = TrackingRelay(handle)  # the actor's class, called in this process
    run = relay.open_run("t1", "beta=0.6 seed=0", {"rcml.trial_name": "run_trial_t1"})
    assert relay.open_run("t1", "beta=0.6 seed=0", {}) == run  # a restarted trial reopens its run
    relay.call(run, "log_params", ({"model": {"beta": 0.6}},))
    relay.call(run, "log_metrics", ({"val/hit@5": 0.5}, 1))
    relay.call(run, "set_tags", ({"status": "finished"},))
    relay.call(run, "log_artifact", (Files("metrics.json", {"": b"{}"}),))
    relay.call(run, "log_artifact", (Files("figures", {"a.txt": b"a", "sub/b.txt": b"b"}),))
    relay.call(run, "log_artifact", (Files("c.txt", {"": b"c"}), "extra"))
    data = client.get_run(run).data
    assert data.params == {"model.beta": "0.6"} and data.tags["status"] == "finished"
    assert data.tags[TAG_TRIAL] == "t1" and data.metrics == {"val/hit_at_5": 0.5}
    assert {a.path for a in client.list_artifacts(run)} == {"metrics.json", "figures", "extra"}
    assert {a.path for a in client.list_artifacts(run, "figures")} == {"figures/a.txt", "figures/sub"}
    assert [a.path for a in client.list_artifacts(run, "extra")] == ["extra/c.txt"]
    end_run(client, run, FINISHED)
    relay.call(run, "log_metrics", ({"val/hit@5": 0.9}, 2))  # an ASHA-stopped worker, a moment later: dropped
    assert [m.step for m in client.get_metric_history(run, "val/hit_at_5")] == [1]


def test_the_relay_refuses_artifact_names_outside_their_folder(tmp_path: Path) -> None:
    handle, _ = _sweep(tmp_path, "recorder-names")
    relay = TrackingRelay(handle)
    run = relay.open_run("t1", "trial", {})
    for files in (Files("../escape.txt", {"": b"x"}), Files("/etc/passwd", {"": b"x"}), Files("d", {"../x": b"x"})):
        with pytest.raises(ValueError, match="must be a relative path"):
            relay.call(run, "log_artifact", (files,))


def test_a_path_is_sent_as_its_files_a_folder_under_its_name(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("{}")
    (tmp_path / "figs" / "sub").mkdir(parents=True)
    (tmp_path / "figs" / "a.png").write_bytes(b"\x89PNG")
    (tmp_path / "figs" / "sub" / "b.csv").write_text("x\n")
    assert Files.of(tmp_path / "m.json") == Files("m.json", {"": b"{}"})
    assert Files.of(tmp_path / "figs") == Files("figs", {"a.png": b"\x89PNG", "sub/b.csv": b"x\n"})
    with pytest.raises(TrackingRelayError, match="missing.json does not exist"):
        Files.of(tmp_path / "missing.json")
    landed = Files.of(tmp_path / "figs").land(tmp_path / "out")
    assert landed == tmp_path / "out" / "figs" and (landed / "sub" / "b.csv").read_text() == "x\n"


def test_a_tracker_method_is_run_by_the_relay_not_re_implemented() -> None:
    from rcml_core.train.tracker import Tracker

    methods = [m for m in vars(Tracker) if not m.startswith("_")]
    assert sorted(methods) == ["log_artifact", "log_metrics", "log_params", "set_tags"]
    assert all(getattr(RelayTracker, m).__name__ == m and getattr(RelayTracker, m).__code__ is
               RelayTracker.log_params.__code__ for m in methods)  # one generic forwarder


@pytest.mark.slow
def test_a_trial_records_through_the_relay_and_its_errors_name_the_run(tmp_path: Path, local_ray) -> None:
    handle, client = _sweep(tmp_path, "relay")
    relay = start_relay(handle)
    try:
        @local_ray.remote(num_cpus=0)
        def trial(relay, folder: str) -> tuple[str, bool]:  # a trial process: records, imports no MLflow
            tracker = RelayTracker(relay, open_trial_run(relay, "t7", "beta=0.2 seed=1", {"rcml.trial_name": "x"}))
            tracker.log_params({"model": {"beta": 0.2}})
            for step in range(3):
                tracker.log_metrics({"val/hit@5": 0.1 * step}, step=step)
            path = Path(folder) / "metrics.json"
            path.write_text(json.dumps({"best": 0.2}))
            tracker.log_artifact(path)
            tracker.set_tags({"status": "finished"})
            return tracker.run_id, "mlflow" in sys.modules

        run, imported_mlflow = local_ray.get(trial.remote(relay, str(tmp_path)))
        assert not imported_mlflow
        run_data = client.get_run(run)
        assert run_data.data.tags[TAG_TRIAL] == "t7" and run_data.data.tags["status"] == "finished"
        assert run_data.data.tags["mlflow.parentRunId"] == handle.parent_run_id
        assert [(m.step, m.value) for m in client.get_metric_history(run, "val/hit_at_5")] == [
            (0, 0.0), (1, 0.1), (2, pytest.approx(0.2))]
        assert [a.path for a in client.list_artifacts(run)] == ["metrics.json"]
        assert open_trial_run(relay, "t7", "beta=0.2 seed=1") == run  # the same run for a restarted trial
        with pytest.raises(TrackingRelayError, match="log_metrics for run no-such-run"):
            RelayTracker(relay, "no-such-run").log_metrics({"val/hit@5": 0.1}, step=0)
    finally:
        stop_relay(relay)
    with pytest.raises(TrackingRelayError, match="relay is gone"):
        RelayTracker(relay, run).set_tags({"status": "late"})


def test_the_trial_side_modules_import_no_mlflow() -> None:
    code = ("import sys, cluster.trial, cluster.worker, cluster.tracking_relay\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'sqlalchemy', 'alembic')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_server_gone_past_mlflows_retries_is_lost_for_every_later_write(tmp_path: Path, monkeypatch) -> None:
    from cluster.connect import free_port
    from tracking.store import TrackingLost

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # nobody listens: MLflow gives up at once
    uri = f"http://127.0.0.1:{free_port()}"
    relay = TrackingRelay(SweepTracking(uri, "1", "parent", "hparam_search-x"))
    with pytest.raises(TrackingLost, match=f"tracking server {uri} stopped answering.*--resume hparam_search-x"):
        relay.call("run-1", "log_metrics", ({"val/hit@5": 0.5}, 1))
    with pytest.raises(TrackingLost):  # at once, without trying the server again
        relay.open_run("t1", "trial", {})
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in relay.lost_reason()


def test_a_refused_write_on_a_local_store_is_an_error_not_a_lost_server(tmp_path: Path) -> None:
    handle, _ = _sweep(tmp_path, "local-errors")
    relay = TrackingRelay(handle)
    with pytest.raises(Exception, match="no-such-run") as raised:
        relay.call("no-such-run", "log_metrics", ({"val/hit@5": 0.5}, 1))
    assert type(raised.value).__name__ == "MlflowException" and relay.lost_reason() is None
