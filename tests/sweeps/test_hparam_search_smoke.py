"""`sweeps/hparam_search.py --smoke-test`: Optuna TPE trials under ASHA, one child run each, none left
RUNNING (trials ASHA stops end FINISHED with a tag), importances on the parent, the study in optuna.db."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pandas as pd
import pytest

from cluster.connect import free_port
from sweeps import hparam_search
from tests.sweeps.conftest import read_sweep
from tracking.optuna_report import dashboard_command

pytestmark = pytest.mark.slow


def test_hparam_search_smoke(tmp_path: Path, local_ray, capsys) -> None:
    assert hparam_search.main(["--smoke-test", "--home", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.splitlines()
    # the results table names each trial's parameters (batch_size an integer), not only its scores
    head = next(i for i, line in enumerate(printed) if "val hit@5 AVG" in line)
    assert printed[head].split()[:5] == ["batch_size", "beta", "lambda_intra", "lr", "tau"]
    for row in printed[head + 1 : head + 5]:
        assert row.split()[0] in {"32", "64", "128"}, row
    record = read_sweep(tmp_path, "hparam_search")
    assert record.parent.info.status == "FINISHED"
    assert len(record.children) == 4
    sweep = record.parent.data.tags["rcml.sweep"]
    tune_record = pd.read_csv(tmp_path / "reports" / sweep / "trials.csv").set_index("trial_id")
    for child in record.children:
        assert child.info.status == "FINISHED", child.data.tags.get("rcml.failure")
        params = child.data.params
        assert child.data.tags["rcml.configuration"].startswith(f"batch_size={params['train.batch_size']} beta=")
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
    assert sweep in _studies_listed_by_the_dashboard(tmp_path)  # the printed optuna-dashboard command works


def _studies_listed_by_the_dashboard(home: Path) -> list[str]:
    """Run the dashboard command the sweep prints (on a free loopback port), read its study list, stop it."""
    command = shlex.split(dashboard_command(home))
    assert command[0] == "optuna-dashboard"
    port = free_port()
    executable = str(Path(sys.executable).with_name("optuna-dashboard"))
    proc = subprocess.Popen([executable, *command[1:], "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    return [s["study_name"] for s in json.load(response)["study_summaries"]]
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
