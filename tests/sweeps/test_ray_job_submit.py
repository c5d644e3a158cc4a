"""`ray job submit` against a Ray head this test starts from the repo root (loopback only) and stops.

Without --working-dir the entrypoint runs in the head's start-up folder (the repo root), so the
README's command works as written; with --working-dir the job runs in Ray's copy of the folder and
its outputs still go to the home folder ($RCML_HOME), not into the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sweeps import beta_sweep
from tests.sweeps.conftest import read_sweep
from tests.sweeps.ray_head import alive, descendants, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
NO_AGENT = "No available agent to submit job"  # the head's answer before its job agent registered


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A 2-CPU head started with `ray start --head --block` in the repo root; stopped by PID at the end."""
    home = tmp_path_factory.mktemp("job-home")
    port, dashboard = free_port(), free_port()
    venv_bin = str(Path(sys.executable).parent)  # as with the virtual environment activated: `python` is its own
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RCML_HOME=str(home),
               PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--num-cpus=2", f"--port={port}", f"--dashboard-port={dashboard}",
         "--dashboard-host=127.0.0.1", "--node-ip-address=127.0.0.1", "--include-dashboard=true",
         f"--ray-client-server-port={free_port()}", "--disable-usage-stats"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert head.poll() is None, head.stdout.read()
            try:
                with urllib.request.urlopen(f"{address}/api/version", timeout=2):
                    break
            except urllib.error.HTTPError:  # it answers (401 without the token): it is up
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not come up"
                time.sleep(1)
        yield address, home, env
    finally:
        started = descendants(head.pid)
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        deadline = time.monotonic() + 30
        while any(alive(p) for p in started) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in started:  # whatever outlived the head: only processes this test started
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def _submit(address: str, env: dict, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`ray job submit`, tried again while the head answers that its job agent has not registered yet (a head
    under load answers its HTTP API seconds before the agent that runs jobs is up)."""
    client_env = dict(env, RAY_AUTH_MODE=env.get("RAY_AUTH_MODE", "token"))
    deadline = time.monotonic() + 120
    while True:
        out = subprocess.run([RAY, "job", "submit", "--address", address, *args], cwd=cwd, env=client_env,
                             capture_output=True, text=True, timeout=900)
        if out.returncode == 0 or NO_AGENT not in out.stderr or time.monotonic() > deadline:
            return out
        time.sleep(3)


def test_job_submit_runs_the_beta_sweep_as_written(ray_head) -> None:
    address, home, env = ray_head
    out = _submit(address, env, ["--", "python", "sweeps/beta_sweep.py", "--smoke-test", "--cpu"], cwd=ROOT)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "succeeded" in (out.stdout + out.stderr).lower()
    record = read_sweep(home, "beta_sweep")  # $RCML_HOME of the head: the job's home folder
    assert record.parent.info.status == "FINISHED" and len(record.children) == len(beta_sweep.BETAS) * len(beta_sweep.SUMMARY_MIXES)


OUTPUT_FOLDERS = {".venv", ".git", "data", "runs", "mlruns", "mlartifacts", "mlflow.db", "ray_results", "reports"}


def _outputs_and_caches(folder: str, names: list[str]) -> set[str]:
    """What the project copy leaves out: the checkout's own outputs (top level only: rcml_core/data is code)
    and caches anywhere."""
    top = Path(folder).resolve() == ROOT
    return {n for n in names if n in {"__pycache__", ".pytest_cache"} or (top and n in OUTPUT_FOLDERS)}


def test_job_submit_with_working_dir_from_anywhere_keeps_outputs_out_of_rays_copy(ray_head, tmp_path) -> None:
    address, home, env = ray_head
    project = tmp_path / "checkout"  # a copy of the project, submitted from outside it
    shutil.copytree(ROOT, project, ignore=_outputs_and_caches)
    out = _submit(address, env, ["--working-dir", str(project), "--", "python", "sweeps/ablation_sweep.py",
                                 "--smoke-test", "--cpu", "--name", "ablation_sweep-job"], cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    record = read_sweep(home, "ablation_sweep")
    assert record.parent.info.status == "FINISHED" and len(record.children) == 5
    artifact_root = json.loads(json.dumps(record.client.get_experiment_by_name("rcml-ablation_sweep")
                                          .artifact_location))
    assert artifact_root.startswith(home.as_uri())
    assert not (project / "mlflow.db").exists()
