"""`sweeps/ablation_sweep.py --smoke-test`, and a sweep in which one trial diverges: it fails alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.launcher import run_sweep
from cluster.study import Study
from cluster.sweep_settings import SweepSettings
from sweeps import ablation_sweep
from tests.sweeps.conftest import read_sweep

pytestmark = pytest.mark.slow


def test_ablation_smoke_records_every_setting_and_the_drop_against_full(tmp_path: Path, local_ray) -> None:
    assert ablation_sweep.main(["--smoke-test", "--home", str(tmp_path)]) == 0
    record = read_sweep(tmp_path, "ablation_sweep")
    assert record.parent.info.status == "FINISHED"
    names = sorted(c.info.run_name for c in record.children)
    assert names == sorted(f"variant={v} seed=0" for v in ablation_sweep.VARIANTS)
    assert all(c.info.status == "FINISHED" for c in record.children)
    by_name = {c.info.run_name: c for c in record.children}
    assert by_name["variant=no_inter_edges seed=0"].data.params["ablation.no_inter_edges"] == "True"
    assert by_name["variant=full seed=0"].data.tags["ablation"] == "full"
    artifacts = {a.path for a in record.client.list_artifacts(record.parent.info.run_id, "report")}
    assert {"report/hit5_by_ablation.png", "report/relative_drop_vs_full.csv"} <= artifacts
    assert int(record.client.get_model_version_by_alias("rcml-ablation_sweep", "champion").version) == 1


def test_a_trial_that_raises_fails_alone_with_its_reason_and_the_sweep_finishes(tmp_path: Path, local_ray) -> None:
    # batch_size 4096 is a valid value, but the tiny catalog has fewer training pairs than one such batch:
    # that trial's worker raises, the other trial finishes and is selected.
    study = Study(name="one_fails", grid={"batch_size": [16, 4096]})
    result = run_sweep(study, SweepSettings(smoke_test=True, home=str(tmp_path), register=False))
    statuses = dict(zip(result.trials["batch_size"], result.trials["status"]))
    assert statuses == {16: "TERMINATED", 4096: "ERROR"}
    assert result.selection is not None and result.selection.config == {"batch_size": 16}
    record = read_sweep(tmp_path, "one_fails")
    runs = {c.data.tags["rcml.trial_id"]: c for c in record.children}
    assert len(runs) == 2
    by_batch = {r.info.run_name: r for r in runs.values()}
    assert by_batch["batch_size=16 seed=0"].info.status == "FINISHED"
    failed = by_batch["batch_size=4096 seed=0"]
    assert failed.info.status == "FAILED"
    assert "train.batch_size 4096" in failed.data.tags["rcml.failure"]
    assert "fewer than one batch" in failed.data.tags["rcml.failure"]
    assert record.parent.info.status == "FINISHED" and record.parent.data.metrics["trials/failed"] == 1
    assert json.loads(record.parent.data.tags["rcml.selected"]) == {"batch_size": 16}
