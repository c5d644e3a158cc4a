"""Trials on a Ray Train worker group: two workers (DDP over gloo on CPU) both train and only rank 0 records
into MLflow; one worker on a group (`--worker-group`) records and checkpoints like a trial trained in its actor."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.launcher import run_sweep
from cluster.resources import ResourceConfig
from cluster.study import Study
from cluster.sweep_settings import SweepSettings
from tests.sweeps.conftest import read_sweep

pytestmark = pytest.mark.slow


def test_a_two_worker_trial_trains_with_ddp_and_logs_once(tmp_path: Path, local_ray) -> None:
    settings = SweepSettings(smoke_test=True, home=str(tmp_path), register=False,
                             resources=ResourceConfig(num_workers=2, cpus_per_worker=0.9),
                             overrides=("epochs=2", "max_steps_per_epoch=2"))
    result = run_sweep(Study(name="ddp", grid={"beta": [0.6]}), settings)
    assert list(result.trials["status"]) == ["TERMINATED"]
    record = read_sweep(tmp_path, "ddp")
    (child,) = record.children
    assert child.info.status == "FINISHED"
    assert [step for step, _ in record.history(child, "val/hit_at_5")] == [0, 1, 2]  # once per epoch, not per rank
    steps = record.history(child, "train/steps")
    assert [s for s, _ in steps] == [1, 2] and all(v == 2 for _, v in steps)  # each rank ran its 2 steps


def test_a_one_worker_trial_on_a_worker_group_records_and_checkpoints_like_an_in_trial_one(tmp_path: Path,
                                                                                           local_ray) -> None:
    settings = SweepSettings(smoke_test=True, home=str(tmp_path), register=False,
                             resources=ResourceConfig(in_trial=False), overrides=("epochs=2", "max_steps_per_epoch=2"))
    result = run_sweep(Study(name="group", grid={"beta": [0.6]}), settings)
    assert list(result.trials["status"]) == ["TERMINATED"]
    assert "/train_runs/" in result.trials["checkpoint_path"].iloc[0]  # Ray Train's checkpoint, not the trial's
    assert 0.0 <= result.test["test/hit@5"] <= 1.0  # the selected checkpoint was found and evaluated
    (child,) = read_sweep(tmp_path, "group").children
    assert child.info.status == "FINISHED"
    assert [step for step, _ in read_sweep(tmp_path, "group").history(child, "val/hit_at_5")] == [0, 1, 2]
