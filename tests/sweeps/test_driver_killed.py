"""A sweep whose driver is SIGKILLed mid-sweep (the OOM killer, a preempted head) finishes with --resume.

No handler runs on SIGKILL: Tune saves nothing more, and the parent run and the children of running trials
stay RUNNING in MLflow. `--resume` must finish the sweep without rerunning finished trials, with exactly one
child run per trial, none left RUNNING, and the runs the dead driver left behind re-attached and tagged.
The local Ray instance the driver started shares its fate (its raylet, GCS and workers end with their
driver; only Ray's two idle per-node agents linger, and the test ends them): nothing it started keeps
training or recording behind the resumed sweep's back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweeps import beta_sweep
from tests.sweeps.conftest import read_sweep
from tests.sweeps.ray_head import alive, descendants
from tests.sweeps.test_resume import _epoch_log, _finished_children

N_TRIALS = len(beta_sweep.BETAS) * len(beta_sweep.SUMMARY_MIXES)  # the grid, one seed (the smoke test)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
IDLE_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def test_sigkill_of_the_driver_then_resume_finishes_the_sweep(tmp_path: Path) -> None:
    log = open(tmp_path / "first.log", "w")
    sweep = subprocess.Popen(
        [sys.executable, str(ROOT / "sweeps" / "beta_sweep.py"), "--smoke-test", "--home", str(tmp_path),
         "--name", "beta_sweep-killed", "--epochs", "6"],  # trials long enough for the kill to land mid-trial
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
    )
    started: list[int] = []
    try:
        deadline = time.monotonic() + 420
        while _finished_children(tmp_path) < 2:
            assert sweep.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "two trials did not finish in time"
            time.sleep(1)
        started = descendants(sweep.pid)
        sweep.send_signal(signal.SIGKILL)
        assert sweep.wait(timeout=30) == -signal.SIGKILL
        # Ray's per-node agents outlive their raylet for a while (they poll it); they train and record nothing.
        working = [p for p in started if not _cmdline(p).startswith(IDLE_AGENTS)]
        deadline = time.monotonic() + 60
        while any(alive(p) for p in working) and time.monotonic() < deadline:
            time.sleep(0.5)
        survivors = {p: _cmdline(p) for p in working if alive(p)}
        assert survivors == {}, f"processes of the killed driver's Ray instance still run: {survivors}"
    finally:
        if sweep.poll() is None:
            sweep.kill()
        for pid in started:  # only what this test started
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()

    before = read_sweep(tmp_path, "beta_sweep")
    assert before.parent.info.status == "RUNNING"  # nothing ended it: the driver had no chance to
    finished = {c.data.tags["rcml.trial_id"]: c.info.run_id for c in before.children if c.info.status == "FINISHED"}
    assert len(finished) >= 2
    left_running = {c.info.run_id for c in before.children if c.info.status == "RUNNING"}
    epochs_logged = {c.data.tags["rcml.trial_id"]: _epoch_log(before, c) for c in before.children
                     if c.info.status == "FINISHED"}

    t0 = time.monotonic()
    resumed = subprocess.run([sys.executable, str(ROOT / "sweeps" / "beta_sweep.py"), "--resume", "--home",
                              str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    resume_s = time.monotonic() - t0
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    if left_running:
        assert f"{len(left_running)} trial run(s) it left RUNNING are re-attached" in resumed.stdout
    after = read_sweep(tmp_path, "beta_sweep")
    assert after.parent.info.run_id == before.parent.info.run_id and after.parent.info.status == "FINISHED"
    assert "rcml.driver_lost" in after.parent.data.tags
    trial_ids = [c.data.tags["rcml.trial_id"] for c in after.children]
    assert len(trial_ids) == len(set(trial_ids)) == N_TRIALS  # exactly one run per trial
    assert [c.info.status for c in after.children] == ["FINISHED"] * N_TRIALS  # none left RUNNING
    for child in after.children:
        trial_id = child.data.tags["rcml.trial_id"]
        if child.info.run_id in left_running:
            assert "rcml.orphaned" in child.data.tags
        if trial_id in finished:  # not rerun: the same run, no epoch trained or logged again
            assert child.info.run_id == finished[trial_id]
            assert _epoch_log(after, child) == epochs_logged[trial_id]
    print(f"driver SIGKILLed after {len(finished)} finished trials ({len(left_running)} runs left RUNNING); "
          f"--resume finished the sweep in {resume_s:.0f} s")
