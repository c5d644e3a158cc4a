"""The MLflow layer on a local SQLite store: where runs go, one child per trial, statuses, names."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tracking.mlflow_tracker import MlflowTracker, mlflow_key
from tracking.store import TrackingUnavailable, check_reachable, resolve_tracking
from tracking.sweep_runs import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    TAG_PARENT,
    SweepTracking,
    end_run,
    get_or_create_experiment,
    kill_running_children,
    start_parent_run,
    start_trial_run,
    trial_runs,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("mlflow-home")
    target = resolve_tracking(home, env={})
    check_reachable(target)
    client = MlflowClient(target.uri)
    return target, client


def test_without_a_tracking_uri_runs_go_to_sqlite_in_the_home_folder(tmp_path: Path) -> None:
    target = resolve_tracking(tmp_path, env={})
    assert target.uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert target.artifact_root == (tmp_path.resolve() / "mlartifacts").as_uri()
    assert "mlflow ui --backend-store-uri sqlite:///" in target.ui_command()
    assert resolve_tracking(tmp_path, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}).uri == "http://127.0.0.1:5000"


def test_an_unreachable_tracking_server_is_a_clear_error_within_seconds() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = resolve_tracking("/unused", env={"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"})
    start = time.perf_counter()
    with pytest.raises(TrackingUnavailable, match=f"cannot reach the MLflow tracking server http://127.0.0.1:{port}"):
        check_reachable(target, timeout_s=3)
    assert time.perf_counter() - start < 10


def test_a_restarted_trial_reuses_its_child_run(store) -> None:
    target, client = store
    experiment = get_or_create_experiment(client, "rcml-test-reuse", target)
    parent = start_parent_run(client, experiment, "sweep-a", {})
    assert start_parent_run(client, experiment, "sweep-a", {}) == parent  # resumed sweep: same parent
    handle = SweepTracking(target.uri, experiment, parent, "sweep-a")
    first = start_trial_run(handle, "t_00001", "beta=0.2 seed=0", client=client)
    end_run(client, first, KILLED)
    again = start_trial_run(handle, "t_00001", "beta=0.2 seed=0", client=client)
    assert again == first and client.get_run(first).info.status == RUNNING
    other = start_trial_run(handle, "t_00002", "beta=0.4 seed=0", client=client)
    runs = trial_runs(handle, client)
    assert sorted(r.info.run_id for r in runs) == sorted([first, other])
    assert all(r.data.tags[TAG_PARENT] == parent for r in runs)


def test_an_interrupted_sweep_leaves_no_child_running(store) -> None:
    target, client = store
    experiment = get_or_create_experiment(client, "rcml-test-kill", target)
    parent = start_parent_run(client, experiment, "sweep-b", {})
    handle = SweepTracking(target.uri, experiment, parent, "sweep-b")
    done = start_trial_run(handle, "t_0", "a", client=client)
    end_run(client, done, FINISHED)
    failed = start_trial_run(handle, "t_1", "b", client=client)
    end_run(client, failed, FAILED, {"rcml.failure": "diverged at step 3: loss is nan"})
    running = start_trial_run(handle, "t_2", "c", client=client)
    assert kill_running_children(handle, client) == 1
    statuses = {r.info.run_id: r.info.status for r in trial_runs(handle, client)}
    assert statuses == {done: FINISHED, failed: FAILED, running: KILLED}
    assert client.get_run(failed).data.tags["rcml.failure"].startswith("diverged at step 3")


def test_the_tracker_maps_names_mlflow_rejects_and_keeps_first_params(store, tmp_path: Path) -> None:
    target, client = store
    experiment = get_or_create_experiment(client, "rcml-test-tracker", target)
    run = client.create_run(experiment).info.run_id
    tracker = MlflowTracker(client, run)
    tracker.log_params({"model": {"beta": 0.6}, "train": {"epochs": 2}})
    tracker.log_params({"model": {"beta": 0.6}, "train": {"epochs": 4}})  # resumed with more epochs
    tracker.log_metrics({"val/hit@5": 0.5, "val/mrr": float("nan")}, step=0)
    tracker.log_metrics({"val/hit@5": 0.7}, step=1)
    (tmp_path / "metrics.json").write_text("{}")
    tracker.log_artifact(tmp_path / "metrics.json")
    data = client.get_run(run).data
    assert mlflow_key("val/hit@5") == "val/hit_at_5"
    assert data.params == {"model.beta": "0.6", "train.epochs": "2"}
    assert data.tags["rcml.param_changed.train.epochs"] == "4"
    assert [(m.step, m.value) for m in client.get_metric_history(run, "val/hit_at_5")] == [(0, 0.5), (1, 0.7)]
    assert "val/mrr" not in data.metrics  # NaN is left out rather than recorded
    assert [a.path for a in client.list_artifacts(run)] == ["metrics.json"]


def test_a_workers_tracker_drops_writes_once_its_run_has_ended(store) -> None:
    target, client = store
    experiment = get_or_create_experiment(client, "rcml-test-zombie", target)
    run = client.create_run(experiment).info.run_id
    tracker = MlflowTracker(client, run, while_running=True)
    tracker.log_metrics({"val/hit@5": 0.4}, step=1)
    end_run(client, run, FINISHED, {"rcml.stopped_by": "asha"})
    tracker.log_metrics({"val/hit@5": 0.9}, step=2)  # the stopped trial's worker, a moment later
    tracker.set_tags({"status": "finished"})
    assert [m.step for m in client.get_metric_history(run, "val/hit_at_5")] == [1]
    assert "status" not in client.get_run(run).data.tags


@pytest.mark.parametrize(
    ("last_epoch", "status_tag", "stopped_by"),
    [(2, "finished", None), (1, "early_stopped", "early_stopping"), (1, None, "asha")],
)
def test_the_driver_ends_a_completed_trials_run_finished_with_how_it_stopped(store, last_epoch, status_tag,
                                                                            stopped_by) -> None:
    from types import SimpleNamespace

    from cluster.callbacks import TrialRunsCallback

    target, client = store
    experiment = get_or_create_experiment(client, "rcml-test-complete", target)
    name = f"sweep-complete-{last_epoch}-{status_tag}"
    handle = SweepTracking(target.uri, experiment, start_parent_run(client, experiment, name, {}), name)
    run = start_trial_run(handle, "t_0", "beta=0.6", client=client)
    if status_tag is not None:
        client.set_tag(run, "status", status_tag)  # what the training loop's tracker records at its end
    trial = SimpleNamespace(trial_id="t_0", last_result={"epoch": last_epoch})
    assert client.get_run(run).info.status == RUNNING  # the trial itself leaves its run open
    TrialRunsCallback(handle, epochs=2).on_trial_complete(0, [], trial)
    ended = client.get_run(run)
    assert ended.info.status == FINISHED
    assert ended.data.tags.get("rcml.stopped_by") == stopped_by


def test_resume_after_a_dead_driver_marks_and_reattaches_the_runs_it_left_running(store) -> None:
    from tracking.sweep_runs import TAG_DRIVER_LOST, TAG_ORPHANED, adopt_orphans

    target, client = store
    experiment = get_or_create_experiment(client, "rcml-test-orphans", target)
    parent = start_parent_run(client, experiment, "sweep-killed", {})
    handle = SweepTracking(target.uri, experiment, parent, "sweep-killed")
    done = start_trial_run(handle, "t_done", "t_done", client=client)
    end_run(client, done, FINISHED)
    orphan = start_trial_run(handle, "t_running", "t_running", client=client)  # then SIGKILL: nobody ends them
    assert adopt_orphans(client, experiment, "sweep-killed") == 1
    assert TAG_DRIVER_LOST in client.get_run(parent).data.tags
    assert TAG_ORPHANED in client.get_run(orphan).data.tags and TAG_ORPHANED not in client.get_run(done).data.tags
    assert start_trial_run(handle, "t_running", "t_running", client=client) == orphan  # re-attached, not duplicated
    end_run(client, parent, KILLED)  # a driver that stopped normally ended its parent: nothing to adopt
    assert adopt_orphans(client, experiment, "sweep-killed") == 0
