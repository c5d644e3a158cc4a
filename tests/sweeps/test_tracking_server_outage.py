"""The tracking server goes away mid-sweep: an `mlflow server` on 127.0.0.1 (SQLite store in the test's folder)
is stopped while a search sweep's trials record, and started again on the same port and store.

- Back within MLflow's HTTP retries (`MLFLOW_HTTP_REQUEST_MAX_RETRIES` / `_BACKOFF_FACTOR`): the writes
  wait, the sweep goes on and completes, every trial's metrics recorded once per epoch.
- Down past them: the sweep stops with one line naming the URI, Tune's state is kept, and `--resume` once
  the server is back completes the record: one FINISHED run per trial, no epoch missing or twice.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cluster.connect import free_port
from cluster.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow

EPOCHS = 4
SWEEP = [sys.executable, str(PROJECT_ROOT / "sweeps" / "hparam_search.py"), "--smoke-test", "--num-samples", "2",
         "--epochs", str(EPOCHS), "--no-register", "--no-baselines", "--max-concurrent", "2",
         "max_steps_per_epoch=12"]  # epochs long enough for the server to stop while trials train


class Server:
    """`mlflow server` over <home>/mlflow.db on one loopback port, stopped and started again on it."""

    def __init__(self, home: Path) -> None:
        self.home, self.port = home, free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 180.0) -> None:
        command = [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
                   f"sqlite:///{self.home / 'mlflow.db'}", "--artifacts-destination", str(self.home / "mlartifacts"),
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        log = open(self.home / "server.log", "a")  # noqa: SIM115 - the server's, closed with the test's folder
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.home,
                                        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                                        start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.home / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2):
                    return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"mlflow server not healthy after {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def server(tmp_path: Path):
    server = Server(tmp_path)
    server.start()
    yield server
    server.stop()


def _sweep(home: Path, server: Server, *args: str, retries: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "MLFLOW_TRACKING_URI": server.uri,
           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries), "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
    return subprocess.Popen([*SWEEP, "--home", str(home / "sweep"), *args], env=env, cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_a_trial_run(home: Path, sweep: subprocess.Popen, timeout_s: float = 240.0) -> None:
    """Until a trial has recorded its first epoch (read from the server's SQLite file, not through the server)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert sweep.poll() is None, sweep.communicate()
        with sqlite3.connect(home / "mlflow.db") as db:
            if db.execute("SELECT COUNT(*) FROM metrics WHERE key = 'val/hit_at_5'").fetchone()[0]:
                return
        time.sleep(0.5)
    raise AssertionError("no trial recorded a metric")


def _every_trial_recorded_once_per_epoch(server: Server, home: Path, sweep: str) -> None:
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("rcml-hparam_search")
    runs = client.search_runs([experiment.experiment_id])
    children = [r for r in runs if r.data.tags.get("rcml.role") == "trial"]
    assert len(children) == 2 and len({c.data.tags["rcml.trial_id"] for c in children}) == 2
    for run in runs:
        assert run.info.status == "FINISHED", (run.data.tags.get("rcml.role"), run.data.tags.get("rcml.failure"))
    last_epoch = pd.read_csv(home / "sweep" / "reports" / sweep / "trials.csv").set_index("trial_id")["epochs"]
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val/hit_at_5")]
        # epoch 0 (before training) to the last epoch Tune recorded: none missing, none twice
        assert steps == list(range(int(last_epoch[child.data.tags["rcml.trial_id"]]) + 1)), steps
        if "rcml.stopped_by" not in child.data.tags:
            assert steps[-1] == EPOCHS


def test_a_sweep_goes_on_when_the_tracking_server_is_back_within_the_retries(tmp_path: Path, server) -> None:
    sweep = _sweep(tmp_path, server, "--name", "hparam_search-outage1", retries=8)  # 0+2+4+...+120 s: ~4 min
    try:
        _wait_for_a_trial_run(tmp_path, sweep)
        server.stop()
        time.sleep(20)
        assert sweep.poll() is None  # the trials' writes wait, nothing failed
        back = time.monotonic()
        server.start()
        restarted = time.monotonic()
        out, err = sweep.communicate(timeout=600)
        print(f"\nserver down 20 s, {restarted - back:.0f} s to start again; the sweep ended "
              f"{time.monotonic() - restarted:.0f} s after it answered")
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    assert sweep.returncode == 0, err[-3000:]
    _every_trial_recorded_once_per_epoch(server, tmp_path, "hparam_search-outage1")


def test_a_server_gone_past_the_retries_stops_the_sweep_and_resume_completes_the_record(tmp_path: Path,
                                                                                         server) -> None:
    sweep = _sweep(tmp_path, server, "--name", "hparam_search-outage2", retries=2)  # gives up after about 2 s
    try:
        _wait_for_a_trial_run(tmp_path, sweep)
        server.stop()
        stopped = time.monotonic()
        out, err = sweep.communicate(timeout=600)
        print(f"\nthe sweep stopped {time.monotonic() - stopped:.0f} s after the server")
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
    errors = [line for line in err.splitlines() if line.startswith("hparam_search: error:")]
    assert sweep.returncode == 2 and len(errors) == 1, err[-3000:]
    assert server.uri in errors[0] and "--resume hparam_search-outage2" in errors[0]
    assert (tmp_path / "sweep" / "ray_results" / "hparam_search-outage2" / "tuner.pkl").is_file()  # Tune's state

    server.start()
    resumed = _sweep(tmp_path, server, "--resume", "hparam_search-outage2", retries=8)
    started = time.monotonic()
    out, err = resumed.communicate(timeout=600)
    print(f"{errors[0]}\n--resume took {time.monotonic() - started:.0f} s")
    assert resumed.returncode == 0, err[-3000:]
    _every_trial_recorded_once_per_epoch(server, tmp_path, "hparam_search-outage2")
