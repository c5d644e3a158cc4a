"""A flood of trials: a search sweep of 200 of the cheapest trials (smoke budget: 1 epoch of 3 steps), 4 at
once on the local cluster, records every trial's params and metrics through the tracking relay: as many
child runs in MLflow as trials in Optuna's storage, each with its sampled params and its metrics, none lost.
Prints what docs/reliability.md reports: the writes the trials made, their rate, and the sweep's time."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import optuna
import pytest

from cluster.launcher import run_sweep
from cluster.resources import ResourceConfig
from cluster.study import Study
from cluster.sweep_settings import SweepSettings
from tests.sweeps.conftest import read_sweep
from tracking.optuna_report import optuna_storage_uri

pytestmark = pytest.mark.slow

TRIALS = int(os.environ.get("RCML_FLOOD_TRIALS", "200"))


class TinySpace:
    """Define-by-run space of two floats (a class: Tune saves the searcher)."""

    def __call__(self, trial) -> None:
        trial.suggest_float("lr", 1e-4, 3e-3, log=True)
        trial.suggest_float("beta", 0.0, 1.0)


def test_a_flood_of_short_trials_records_every_trials_params_and_metrics(tmp_path: Path, local_ray) -> None:
    study = Study(name="flood", search=TinySpace(), num_samples=TRIALS)
    settings = SweepSettings(smoke_test=True, seeds=(0,), home=str(tmp_path), asha=False, register=False,
                             baselines=False, name="flood-1",
                             resources=ResourceConfig(cpus_per_worker=0.4, max_concurrent_trials=4))
    started = time.perf_counter()
    result = run_sweep(study, settings)
    wall = time.perf_counter() - started
    assert not result.interrupted

    record = read_sweep(tmp_path, "flood")
    optuna_trials = optuna.load_study(study_name="flood-1", storage=optuna_storage_uri(tmp_path)).trials
    assert len(record.children) == len(optuna_trials) == TRIALS
    assert {t.state for t in optuna_trials} == {optuna.trial.TrialState.COMPLETE}
    by_trial_params = sorted((t.params["lr"], t.params["beta"]) for t in optuna_trials)  # str(float) round-trips
    assert sorted((float(c.data.params["optim.lr"]), float(c.data.params["model.beta"]))
                  for c in record.children) == by_trial_params
    for child in record.children:
        assert child.info.status == "FINISHED", child.data.tags.get("rcml.failure")
        assert [s for s, _ in record.history(child, "val/hit_at_5")] == [0, 1]  # before training, after its epoch

    with sqlite3.connect(tmp_path / "mlflow.db") as db:  # one log_metrics call: one (run, step, timestamp)
        children = tuple(c.info.run_id for c in record.children)
        marks = ",".join("?" * len(children))
        metric_writes = db.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT run_uuid, step, timestamp FROM metrics "
                                   f"WHERE run_uuid IN ({marks}))", children).fetchone()[0]
        values = db.execute(f"SELECT COUNT(*) FROM metrics WHERE run_uuid IN ({marks})", children).fetchone()[0]
        params = db.execute(f"SELECT COUNT(*) FROM params WHERE run_uuid IN ({marks})", children).fetchone()[0]
    starts = [c.info.start_time for c in record.children]
    ends = [c.info.end_time for c in record.children]
    trial_span = (max(ends) - min(starts)) / 1000
    print(f"\nflood: {TRIALS} trials in {wall:.0f} s (sweep), trials from first start to last end {trial_span:.0f} s; "
          f"{metric_writes} metric writes ({values} values), {params} params; "
          f"{metric_writes / trial_span:.1f} metric writes/s, {TRIALS / trial_span:.2f} trials/s")
