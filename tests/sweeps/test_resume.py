"""An interrupted sweep resumed with --resume neither reruns finished trials nor duplicates runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweeps import beta_sweep
from tests.sweeps.conftest import read_sweep, trial_run_ids

N_TRIALS = len(beta_sweep.BETAS) * len(beta_sweep.SUMMARY_MIXES)  # the grid, one seed (the smoke test)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _finished_children(home: Path) -> int:
    return len(trial_run_ids(home, "beta_sweep", "FINISHED"))


def test_interrupt_then_resume(tmp_path: Path) -> None:
    log = open(tmp_path / "first.log", "w")
    sweep = subprocess.Popen(
        [sys.executable, str(ROOT / "sweeps" / "beta_sweep.py"), "--smoke-test", "--home", str(tmp_path),
         "--name", "beta_sweep-resume", "--epochs", "6"],  # trials long enough for Ctrl+C to land mid-sweep
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 420
        while _finished_children(tmp_path) < 2:
            assert sweep.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "two trials did not finish in time"
            time.sleep(2)
        sweep.send_signal(signal.SIGINT)  # Ctrl+C: Tune saves its state, the sweep stops
        assert sweep.wait(timeout=180) == 130, (tmp_path / "first.log").read_text()[-3000:]
    finally:
        if sweep.poll() is None:
            sweep.kill()
        log.close()

    before = read_sweep(tmp_path, "beta_sweep")
    assert before.parent.info.status == "KILLED"
    assert all(c.info.status != "RUNNING" for c in before.children)
    finished = {c.data.tags["rcml.trial_id"]: (c.info.run_id, c.info.end_time)
                for c in before.children if c.info.status == "FINISHED"}
    assert len(finished) >= 2
    epochs_logged = {c.data.tags["rcml.trial_id"]: _epoch_log(before, c) for c in before.children
                     if c.info.status == "FINISHED"}

    resumed = subprocess.run([sys.executable, str(ROOT / "sweeps" / "beta_sweep.py"), "--resume", "--home",
                              str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    after = read_sweep(tmp_path, "beta_sweep")
    assert after.parent.info.run_id == before.parent.info.run_id and after.parent.info.status == "FINISHED"
    trial_ids = [c.data.tags["rcml.trial_id"] for c in after.children]
    assert len(trial_ids) == len(set(trial_ids)) == N_TRIALS  # one run per trial, no duplicates
    assert all(c.info.status == "FINISHED" for c in after.children)
    registered = after.parent.data.tags["rcml.selected_trial"]
    for child in after.children:  # finished trials were not rerun: same run, no epoch logged again
        trial_id = child.data.tags["rcml.trial_id"]
        if trial_id in finished:
            assert child.info.run_id == finished[trial_id][0]
            assert _epoch_log(after, child) == epochs_logged[trial_id]
            if trial_id != registered:  # the selected trial's run also receives the registered model at the end
                assert child.info.end_time == finished[trial_id][1]


def _epoch_log(record, run) -> list[tuple[int, int]]:
    """(epoch, time logged) of each validation the run recorded."""
    return [(m.step, m.timestamp) for m in record.client.get_metric_history(run.info.run_id, "val/hit_at_5")]
