"""`sweeps/hparam_search.py --smoke-test`: Optuna TPE trials under ASHA, one child run each, none left
RUNNING (trials ASHA stops end FINISHED with a tag), importances on the parent, the study in optuna.db."""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd
import pytest

from sweeps import hparam_search
from tests.sweeps.conftest import read_sweep

pytestmark = pytest.mark.slow


def test_hparam_search_smoke(tmp_path: Path, local_ray) -> None:
    assert hparam_search.main(["--smoke-test", "--home", str(tmp_path)]) == 0
    record = read_sweep(tmp_path, "hparam_search")
    assert record.parent.info.status == "FINISHED"
    assert len(record.children) == 4
    sweep = record.parent.data.tags["rcml.sweep"]
    tune_record = pd.read_csv(tmp_path / "reports" / sweep / "trials.csv").set_index("trial_id")
    for child in record.children:
        assert child.info.status == "FINISHED", child.data.tags.get("rcml.failure")
        params = child.data.params
        assert 1e-4 <= float(params["optim.lr"]) <= 3e-3 and 0.0 <= float(params["model.beta"]) <= 1.0
        last_epoch = tune_record.loc[child.data.tags["rcml.trial_id"], "epochs"]  # the last one Tune saw
        if child.data.tags.get("rcml.stopped_by") == "asha":
            assert last_epoch < 2  # stopped before its last epoch
        else:
            assert last_epoch == 2 and [s for s, _ in record.history(child, "val/hit_at_5")] == [0, 1, 2]
    artifacts = {a.path for a in record.client.list_artifacts(record.parent.info.run_id, "report")}
    assert "report/param_importances.json" in artifacts
    study = optuna.load_study(study_name=sweep, storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    assert len(study.trials) == 4
