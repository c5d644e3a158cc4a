"""A sweep whose driver is SIGKILLed mid-sweep (the OOM killer, a preempted head) finishes with --resume.

No handler runs on SIGKILL: Tune saves nothing more, and the parent run and the children of running trials
stay RUNNING in MLflow. `--resume` must finish the sweep without rerunning finished trials, with exactly one
child run per trial, none left RUNNING, and the runs the dead driver left behind re-attached and tagged.
The local Ray instance the driver started shares its fate (its raylet, GCS and workers end with their
driver; only Ray's two idle per-node agents linger, and the test ends them): nothing it started keeps
training or recording behind the resumed sweep's back.

Three sweeps: the beta grid (trials in their own actors), the Optuna search (its study, kept in
<home>/optuna.db, continues from its stored trials: no trial proposed twice, none left RUNNING), and the
search on a Ray Train worker group of two workers per trial (DDP), whose Train runs outlive nothing either.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from sweeps import beta_sweep
from tests.sweeps.conftest import SweepRecord, read_sweep, trial_run_ids
from tests.sweeps.ray_head import alive, descendants
from tests.sweeps.test_resume import _epoch_log

N_TRIALS = len(beta_sweep.BETAS) * len(beta_sweep.SUMMARY_MIXES)  # the grid, one seed (the smoke test)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
IDLE_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def _finished_children(home: Path, study: str) -> int:
    return len(trial_run_ids(home, study, "FINISHED"))


@dataclass
class Killed:
    """The MLflow record the killed driver left behind."""

    record: SweepRecord
    finished: dict[str, str]  # trial id -> run id of the trials finished before the kill
    left_running: set[str]  # run ids the kill left RUNNING
    epochs_logged: dict[str, list[tuple[int, int]]]  # trial id -> (epoch, time) of its validations


def _kill_driver_mid_sweep(script: str, study: str, home: Path, args: list[str], finished: int,
                           timeout: float = 420) -> Killed:
    """Start the sweep, SIGKILL its driver once `finished` trials are FINISHED, check that nothing of its Ray
    instance keeps running, and read what it left in MLflow."""
    log = open(home / "first.log", "w")
    sweep = subprocess.Popen([sys.executable, str(ROOT / "sweeps" / script), "--smoke-test", "--home", str(home),
                              *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    started: list[int] = []
    try:
        deadline = time.monotonic() + timeout
        while _finished_children(home, study) < finished:
            assert sweep.poll() is None, (home / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"{finished} trials did not finish in time"
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
    before = read_sweep(home, study)
    assert before.parent.info.status == "RUNNING"  # nothing ended it: the driver had no chance to
    done = {c.data.tags["rcml.trial_id"]: c.info.run_id for c in before.children if c.info.status == "FINISHED"}
    assert len(done) >= finished
    return Killed(before, done, {c.info.run_id for c in before.children if c.info.status == "RUNNING"},
                  {c.data.tags["rcml.trial_id"]: _epoch_log(before, c) for c in before.children
                   if c.info.status == "FINISHED"})


def _resume_and_check(script: str, study: str, home: Path, killed: Killed, n_trials: int,
                      study_args: tuple[str, ...] = ()) -> SweepRecord:
    """--resume finishes the sweep: the same parent, one FINISHED child per trial, the finished ones not rerun.
    `study_args`: the flags that shape the study and its trials, given again as the user would (the sweep's
    saved settings hold its data, preset, seeds, overrides and budget, not --num-samples or --num-workers)."""
    t0 = time.monotonic()
    resumed = subprocess.run([sys.executable, str(ROOT / "sweeps" / script), *study_args, "--resume", "--home",
                              str(home)],
                             cwd=ROOT, capture_output=True, text=True, timeout=900)
    resume_s = time.monotonic() - t0
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    if killed.left_running:
        assert f"{len(killed.left_running)} trial run(s) it left RUNNING are re-attached" in resumed.stdout
    after = read_sweep(home, study)
    before = killed.record
    assert after.parent.info.run_id == before.parent.info.run_id and after.parent.info.status == "FINISHED"
    assert "rcml.driver_lost" in after.parent.data.tags
    # A trial the driver had started but Tune had not saved yet is proposed again under a new id: the run the
    # dead driver left for it ends KILLED, tagged; every other run is one trial's, FINISHED.
    forgotten = [c for c in after.children if c.info.status == "KILLED"]
    assert all(c.info.run_id in killed.left_running and "rcml.orphaned" in c.data.tags for c in forgotten)
    kept = [c for c in after.children if c.info.status != "KILLED"]
    trial_ids = [c.data.tags["rcml.trial_id"] for c in kept]
    assert len(trial_ids) == len(set(trial_ids)) == n_trials  # exactly one run per trial
    assert [c.info.status for c in kept] == ["FINISHED"] * n_trials  # none left RUNNING
    for child in kept:
        trial_id = child.data.tags["rcml.trial_id"]
        if child.info.run_id in killed.left_running:
            assert "rcml.orphaned" in child.data.tags
        if trial_id in killed.finished:  # not rerun: the same run, no epoch trained or logged again
            assert child.info.run_id == killed.finished[trial_id]
            assert _epoch_log(after, child) == killed.epochs_logged[trial_id]
    print(f"{study}: driver SIGKILLed after {len(killed.finished)} finished trials ({len(killed.left_running)} "
          f"runs left RUNNING, {len(forgotten)} of them for trials Tune had not saved); --resume finished the "
          f"sweep in {resume_s:.0f} s")
    return after


def _optuna_trials(home: Path, study_name: str) -> list:
    import optuna

    from tracking.optuna_report import optuna_storage_uri

    return optuna.load_study(study_name=study_name, storage=optuna_storage_uri(home)).get_trials(deepcopy=False)


def _check_optuna_continued(home: Path, sweep_name: str, told_before: dict[int, tuple], after: SweepRecord,
                            n_trials: int) -> None:
    """The Optuna study went on from its stored trials: the trials told before the kill are unchanged, one told
    trial per Tune trial, and none left RUNNING: trials the dead driver had asked but Tune had not saved end FAIL,
    listed in the study's `rcml.orphaned_trials`."""
    import optuna

    from tracking.optuna_report import optuna_storage_uri

    study = optuna.load_study(study_name=sweep_name, storage=optuna_storage_uri(home))
    trials = study.get_trials(deepcopy=False)
    state = optuna.trial.TrialState
    assert state.RUNNING not in [t.state for t in trials]
    told = [t for t in trials if t.state in (state.COMPLETE, state.PRUNED)]
    assert len(told) == n_trials, [(t.number, t.state, t.params) for t in trials]
    orphaned = [t.number for t in trials if t.state == state.FAIL]
    assert sorted(study.user_attrs.get("rcml.orphaned_trials", [])) == orphaned
    assert len(trials) == n_trials + len(orphaned)
    assert {t.number: (t.value, t.datetime_complete) for t in told if t.number in told_before} == told_before
    for child in after.children:  # each trial's run holds the parameters of a told Optuna trial
        if child.info.status == "FINISHED":
            lr, beta = float(child.data.params["optim.lr"]), float(child.data.params["model.beta"])
            assert any(abs(t.params["lr"] - lr) < 1e-9 and abs(t.params["beta"] - beta) < 1e-9 for t in told)


def _told(home: Path, sweep_name: str) -> dict[int, tuple]:
    """Optuna trial number -> (value, completion time) of the trials told so far."""
    import optuna

    return {t.number: (t.value, t.datetime_complete) for t in _optuna_trials(home, sweep_name)
            if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)}


def test_sigkill_of_the_driver_then_resume_finishes_the_sweep(tmp_path: Path) -> None:
    killed = _kill_driver_mid_sweep("beta_sweep.py", "beta_sweep", tmp_path,
                                    ["--name", "beta_sweep-killed", "--epochs", "6"], finished=2)
    _resume_and_check("beta_sweep.py", "beta_sweep", tmp_path, killed, N_TRIALS)


def test_sigkill_of_a_search_sweep_driver_then_resume_continues_the_optuna_study(tmp_path: Path) -> None:
    name = "hparam_search-killed"
    killed = _kill_driver_mid_sweep("hparam_search.py", "hparam_search", tmp_path,
                                    ["--name", name, "--epochs", "4", "--no-baselines"], finished=2)
    told_before = _told(tmp_path, name)
    assert len(told_before) >= 2  # the finished trials' values are stored
    after = _resume_and_check("hparam_search.py", "hparam_search", tmp_path, killed, n_trials=4,
                              study_args=("--smoke-test",))
    _check_optuna_continued(tmp_path, name, told_before, after, n_trials=4)


def test_sigkill_of_the_driver_of_worker_group_trials_then_resume_finishes_the_sweep(tmp_path: Path) -> None:
    name = "hparam_search-ddp-killed"
    killed = _kill_driver_mid_sweep("hparam_search.py", "hparam_search", tmp_path,
                                    ["--name", name, "--num-samples", "3", "--epochs", "3", "--num-workers", "2",
                                     "--no-baselines"], finished=1, timeout=600)
    told_before = _told(tmp_path, name)
    after = _resume_and_check("hparam_search.py", "hparam_search", tmp_path, killed, n_trials=3,
                              study_args=("--smoke-test", "--num-samples", "3", "--num-workers", "2"))
    _check_optuna_continued(tmp_path, name, told_before, after, n_trials=3)
    train_runs = tmp_path / "ray_results" / name / "train_runs"
    for child in (c for c in after.children if c.info.status == "FINISHED"):  # each on a worker group of its own
        assert (train_runs / f"train-{child.data.tags['rcml.trial_id']}").is_dir()
