"""An autoscaling sweep on one machine, as a user runs it: a Ray head started with cluster/autoscaling_local.yaml
(Ray's fake multi-node provider; only its worker nodes declare `rcml_worker`, which every trial asks for), a
smoke beta sweep sent with `ray job submit` and RAY_ADDRESS=127.0.0.1:<port>, and the proof from Ray's state
API, `ray status` and MLflow: worker nodes join while trials queue (at least two at once), every trial runs and
records on a worker node, the sweep finishes with its report and registered model, and once idle the cluster
is the head alone again. Every process listens on 127.0.0.1; the test stops what it started (its own temp
folder and ports).

Also here: `--address auto` reaches a head bound to loopback, and a trial placed on a node that advertises a
GPU it does not have fails at once, naming the node, and the sweep ends (no hang).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sweeps import beta_sweep
from tests.sweeps.conftest import read_sweep
from tests.sweeps.ray_head import free_port, stop_head

N_TRIALS = len(beta_sweep.BETAS) * len(beta_sweep.SUMMARY_MIXES)  # the smoke grid, one seed

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
IDLE_TIMEOUT_S = 30  # cluster/autoscaling_local.yaml: idle_timeout_minutes 0.5


@dataclass
class Head:
    gcs: str  # 127.0.0.1:<port>
    dashboard: str  # http://127.0.0.1:<port>
    root: Path  # the test's temp folder (RAY_TMPDIR of the head and its nodes)
    home: Path  # RCML_HOME of the sweep jobs
    env: dict[str, str]  # a client's environment (loopback, the cluster's token)


@pytest.fixture(scope="module")
def autoscaling_head():
    """`ray start --head --block` with the fake multi-node autoscaler, on loopback, in a temp folder of its own."""
    root = Path(tempfile.mkdtemp(prefix="rcml-as-", dir="/tmp"))  # short: Ray's socket paths live under it
    home = root / "home"
    gcs_port, dashboard_port = free_port(), free_port()
    config = yaml.safe_load((ROOT / "cluster" / "autoscaling_local.yaml").read_text())
    config["provider"]["gcs_address"] = f"127.0.0.1:{gcs_port}"  # where the fake worker nodes find the head
    (root / "autoscaling.yaml").write_text(yaml.safe_dump(config))
    venv_bin = str(Path(sys.executable).parent)  # as with the virtual environment activated
    env = {k: v for k, v in os.environ.items()
           if k not in ("RAY_ADDRESS", "RAY_TMPDIR", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}
    # Token authentication (Ray's default for new clusters) with a token of this test's own, given to the head,
    # its nodes and every client: nothing depends on ~/.ray/auth_token existing, or is written there.
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RCML_HOME=str(home), RAY_TMPDIR=str(root),
               RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
               PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    head_env = dict(env, RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1")
    log = (root / "head.log").open("w")
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={gcs_port}", "--num-cpus=1",
         "--object-store-memory=200000000", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
         f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
         f"--dashboard-agent-grpc-port={free_port()}", f"--metrics-export-port={free_port()}",
         f"--runtime-env-agent-port={free_port()}", f"--autoscaling-config={root / 'autoscaling.yaml'}",
         "--disable-usage-stats"],
        cwd=ROOT, env=head_env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while "block forever" not in (root / "head.log").read_text():
            assert head.poll() is None, (root / "head.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "the Ray head did not come up"
            time.sleep(1)
        yield Head(f"127.0.0.1:{gcs_port}", f"http://127.0.0.1:{dashboard_port}", root, home, env)
    finally:
        stop_head(head, str(root))
        log.close()
        shutil.rmtree(root, ignore_errors=True)


class NodeWatch:
    """Ray's state API, polled every 2 s by a process of its own (tests.sweeps.ray_head.watch_nodes): the alive
    worker nodes (not the head) over time."""

    def __init__(self, head: Head) -> None:
        self.file = head.root / f"nodes-{time.time_ns()}.jsonl"
        self.log = (head.root / "watch.log").open("a")
        self.process = subprocess.Popen([sys.executable, "-m", "tests.sweeps.ray_head", head.dashboard, str(self.file),
                                         "2"], cwd=ROOT, env=head.env, stdout=subprocess.DEVNULL, stderr=self.log)

    def samples(self) -> list[dict]:
        if not self.file.exists():
            return []
        return [json.loads(line) for line in self.file.read_text().splitlines() if line.endswith("}")]

    def latest(self) -> dict | None:
        samples = self.samples()
        return samples[-1]["workers"] if samples else None

    def head_alone_since(self, t: float) -> bool:
        """The latest sample, taken after time t, shows no worker node."""
        samples = self.samples()
        return bool(samples) and samples[-1]["t"] > t and not samples[-1]["workers"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def _ray_status(head: Head) -> str:
    """`ray status` as the README runs it: the address from RAY_ADDRESS."""
    out = subprocess.run([RAY, "status"], env=dict(head.env, RAY_ADDRESS=head.gcs), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_address_auto_reaches_a_head_bound_to_loopback(autoscaling_head: Head) -> None:
    # A driver without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER in its environment (the user's shell): `auto` must not
    # turn the recorded 127.0.0.1 into this machine's external address.
    env = {k: v for k, v in autoscaling_head.env.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    code = ("from cluster.connect import connect, prefer_loopback\n"
            "prefer_loopback('auto')\n"
            "info = connect('auto')\n"
            "print('joined', info.address, info.single_machine)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"joined {autoscaling_head.gcs} True" in out.stdout


def test_a_sweep_submitted_to_the_autoscaling_cluster_runs_every_trial_on_worker_nodes_and_scales_back(
        autoscaling_head: Head, capsys) -> None:
    head = autoscaling_head
    watch = NodeWatch(head)
    try:
        started = time.time()
        job_log = head.root / "job.log"  # a file, not a pipe: the job's output could fill a pipe and stall it
        with job_log.open("w") as out:
            job = subprocess.Popen(
                [RAY, "job", "submit", "--", "python", "sweeps/beta_sweep.py", "--smoke-test", "--cpu",
                 "--worker-resource", "rcml_worker", "--max-concurrent", "2"],
                cwd=ROOT, env=dict(head.env, RAY_ADDRESS=head.gcs), stdout=out, stderr=subprocess.STDOUT)
        status_busy = None
        while job.poll() is None:
            assert time.time() - started < 600, "the sweep job did not end within 10 minutes"
            if status_busy is None and len(watch.latest() or {}) >= 2:
                status_busy = _ray_status(head)
            time.sleep(2)
        output = job_log.read_text()
        assert job.returncode == 0 and "succeeded" in output, output[-5000:]
        job_done = time.time() - started
        # after the idle timeout the autoscaler removes the worker nodes: the head alone again
        while not watch.head_alone_since(started + job_done):
            assert time.time() - started < job_done + IDLE_TIMEOUT_S + 120, f"worker nodes left: {watch.latest()}"
            time.sleep(2)
        status_idle = _ray_status(head)
    finally:
        watch.stop()
    samples = watch.samples()
    timeline = [(s["t"] - started, len(s["workers"])) for s in samples]
    workers_seen = {k: v for s in samples for k, v in s["workers"].items()}
    changes = [(round(t), n + 1) for k, (t, n) in enumerate(timeline) if k == 0 or n != timeline[k - 1][1]]
    with capsys.disabled():  # in the CI log even when the test passes
        print(f"\nautoscaling sweep: job {job_done:.0f} s, the head alone again at {timeline[-1][0]:.0f} s; "
              f"alive nodes, head included, over time (s since submit, nodes): {changes}; at most "
              f"{max(n for _, n in timeline)} worker node(s) at once, {len(workers_seen)} started")

    # (a) at least two worker nodes were alive at once, seen by Ray's state API and `ray status`
    assert max(n for _, n in timeline) >= 2, changes
    assert status_busy is not None and "ray.worker.cpu" in status_busy, status_busy
    assert all(w["labels"].get("rcml-node-type") == "cpu_worker" and w["resources"].get("rcml_worker") == 1
               for w in workers_seen.values())
    # (d) and none once idle
    assert "ray.worker.cpu" not in status_idle.split("Pending:")[0], status_idle

    # (b), (c): MLflow, through the tracking relay on the head
    record = read_sweep(head.home, "beta_sweep")
    assert record.parent.info.status == "FINISHED" and len(record.children) == N_TRIALS
    for child in record.children:
        tags, metrics = child.data.tags, child.data.metrics
        assert child.info.status == "FINISHED", tags.get("rcml.failure")
        assert tags["rcml.node_id"] in workers_seen, (tags["rcml.node_id"], sorted(workers_seen))
        assert tags["rcml.node_type"] == "cpu_worker" and tags["rcml.hostname"]
        assert [s for s, _ in record.history(child, "val/hit_at_5")] == [0, 1]
        assert metrics["cost/wall_s"] > 0 and metrics["cost/cpu_s"] == pytest.approx(metrics["cost/wall_s"])
        assert metrics["cost/gpu_s"] == 0
    artifacts = {a.path for a in record.client.list_artifacts(record.parent.info.run_id, "report")}
    assert {"report/trials.csv", "report/hit5_vs_beta.png", "report/selection.json", "report/cost.json",
            "report/cost_by_configuration.csv"} <= artifacts
    assert record.parent.data.metrics["cost/trials"] == N_TRIALS and record.parent.data.metrics["cost/cpu_h"] > 0
    assert record.parent.data.tags["rcml.registered_model"] == "rcml-beta_sweep/1"
    versions = record.client.search_model_versions("name='rcml-beta_sweep'")
    assert [str(v.version) for v in versions] == ["1"]
    selection = json.loads(record.parent.data.tags["rcml.selected"])
    assert set(selection) == {"summary_mix", "beta"}


@pytest.fixture
def local_ray_with_a_gpu_it_lacks():
    """A local Ray instance that advertises one GPU on a machine whose torch has no CUDA (the fake cluster's
    GPU nodes are the same: a resource count, no device)."""
    import ray
    import torch

    from cluster.connect import connect

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: a GPU trial would train")
    connect(num_cpus=2, num_gpus=1)
    yield
    ray.shutdown()


def test_a_trial_on_a_node_advertising_a_gpu_without_cuda_fails_at_once_naming_the_node(
        local_ray_with_a_gpu_it_lacks, tmp_path: Path) -> None:
    import socket

    from cluster.launcher import run_sweep
    from cluster.resources import ResourceConfig
    from cluster.study import Study
    from cluster.sweep_settings import SweepSettings
    from rcml_core.errors import RCMLError

    settings = SweepSettings(smoke_test=True, home=str(tmp_path), register=False,
                             resources=ResourceConfig(use_gpu=True, cpus_per_worker=0.9))
    started = time.monotonic()
    with pytest.raises(RCMLError, match=r"planned on a GPU but on node .* sees no CUDA device"):
        run_sweep(Study(name="gpu_without_cuda", grid={"beta": [0.6]}), settings)
    assert time.monotonic() - started < 300  # no hang: the trial fails as soon as it asks for its device
    record = read_sweep(tmp_path, "gpu_without_cuda")
    (child,) = record.children
    assert child.info.status == "FAILED" and record.parent.info.status == "FAILED"
    failure = child.data.tags["rcml.failure"]
    assert f"on node {socket.gethostname()} (Ray node {child.data.tags['rcml.node_id'][:12]})" in failure
    assert "or run the sweep with --cpu" in failure
    assert child.data.metrics["cost/gpu_s"] > 0  # the GPU it held while failing is accounted for
