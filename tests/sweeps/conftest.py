"""Shared pieces of the sweep tests: one local Ray instance for the in-process sweeps, MLflow readers."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient


@pytest.fixture(scope="module")
def local_ray():
    """A 2-CPU local Ray instance on loopback, shared by the in-process sweeps of one test module (and gone
    before the modules that start Ray instances of their own)."""
    import ray

    from cluster.connect import connect

    connect(num_cpus=2)
    yield ray
    ray.shutdown()


@dataclass
class SweepRecord:
    client: MlflowClient
    parent: Run
    children: list[Run]

    def history(self, run: Run, key: str) -> list[tuple[int, float]]:
        return [(m.step, m.value) for m in self.client.get_metric_history(run.info.run_id, key)]


def trial_run_ids(home: Path, study: str, status: str | None = None) -> list[str]:
    """The study's trial runs (with `status`) in <home>/mlflow.db, oldest first, read with sqlite3 read-only: a
    watcher polling while the sweep creates the store must not create it too. An MlflowClient would run MLflow's
    table migrations at the same moment as the sweep's, and one of them dies ('table _alembic_tmp_metrics
    already exists': CI, stop 25, the sweep under test_resume)."""
    db = home / "mlflow.db"
    if not db.exists():
        return []
    query = ("SELECT r.run_uuid FROM runs r JOIN experiments e ON r.experiment_id = e.experiment_id "
             "JOIN tags t ON t.run_uuid = r.run_uuid WHERE e.name = ? AND t.key = 'rcml.role' AND t.value = 'trial'"
             + (" AND r.status = ?" if status else "") + " ORDER BY r.start_time")
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as db_:
            return [row[0] for row in db_.execute(query, (f"rcml-{study}", *([status] if status else [])))]
    except sqlite3.Error:  # the sweep is creating the store's tables
        return []


def read_sweep(home: Path, study: str) -> SweepRecord:
    """The (single) sweep of `study` recorded in <home>/mlflow.db, with its child runs."""
    client = MlflowClient(f"sqlite:///{home / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"rcml-{study}")
    assert experiment is not None, f"no MLflow experiment rcml-{study}"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if r.data.tags.get("rcml.role") == "sweep"]
    assert len(parents) == 1, f"expected one parent run, found {len(parents)}"
    children = [r for r in runs if r.data.tags.get("rcml.role") == "trial"]
    return SweepRecord(client, parents[0], children)
