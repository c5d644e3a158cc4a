"""`rcml compare` on runs in an MLflow store: a trial run stands for its configuration's seeds, the params
that differ are marked, and a large paired effect is marked significant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from rcml_cli.main import main
from rcml_core.eval.results import EvalResult, QueryOutcomes

N_PAIRS = 60


def _trial_run(client: MlflowClient, experiment: str, parent: str, beta: float, seed: int, hits: np.ndarray,
               folder: Path) -> str:
    run = client.create_run(experiment, run_name=f"beta={beta} seed={seed}",
                            tags={"rcml.role": "trial", "mlflow.parentRunId": parent, "rcml.trial_id": f"t{beta}{seed}"})
    run_id = run.info.run_id
    for key, value in {"seed": seed, "model.beta": beta, "loss.tau": 0.1, "out_dir": f"runs/{run_id}"}.items():
        client.log_param(run_id, key, str(value))
    pair = np.repeat(np.arange(N_PAIRS), 2)
    result = EvalResult("val", {}, {"": QueryOutcomes(pair, {"hit@5_avg": hits, "mrr_avg": hits / 2})})
    path = result.save(folder / run_id / "selection-val.npz")
    client.log_artifact(run_id, str(path), artifact_path="outcomes")
    client.set_terminated(run_id, "FINISHED")
    return run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[str, dict[float, list[str]]]:
    tmp_path = tmp_path_factory.mktemp("compare-store")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("rcml-beta", artifact_location=(tmp_path / "artifacts").as_uri())
    parent = client.create_run(experiment, run_name="sweep", tags={"rcml.role": "sweep"}).info.run_id
    rng = np.random.default_rng(0)
    runs: dict[float, list[str]] = {}
    for beta, rate in ((0.2, 0.2), (0.6, 0.7)):  # a large effect: 0.2 -> 0.7 hit rate
        for seed in (0, 1, 2):
            hits = (rng.random(2 * N_PAIRS) < rate).astype(float)
            runs.setdefault(beta, []).append(_trial_run(client, experiment, parent, beta, seed, hits, tmp_path))
    return uri, runs


def test_compare_pools_each_configurations_seeds_marks_differing_params_and_a_large_effect(
        store, tmp_path: Path, capsys) -> None:
    uri, runs = store
    out = tmp_path / "compare"
    assert main(["compare", runs[0.2][1], runs[0.6][0], "--tracking-uri", uri, "--out", str(out),
                 "--resamples", "500"]) == 0
    printed = capsys.readouterr().out
    assert "seed(s) 0 1 2" in printed  # one trial run brought its configuration's three seeds
    assert "params: 1 of 2 differ" in printed  # model.beta; the seed and the run folder are per run
    params = pd.read_csv(out / "params.csv")
    assert list(params.loc[params["differs"] == "*", "param"]) == ["model.beta"]
    table = pd.read_csv(out / "differences.csv").set_index("metric")
    row = table.loc["hit@5_avg"]
    assert row["seeds_paired"] and row["n_queries"] == 2 * N_PAIRS and row["n_pairs"] == N_PAIRS
    assert 0 < row["ci_lo"] <= row["diff"] <= row["ci_hi"] and row["significant"]
    assert row["diff"] == pytest.approx(row["mean"] - row["mean_reference"])


def test_compare_without_seed_expansion_uses_the_runs_given(store, capsys) -> None:
    uri, runs = store
    assert main(["compare", runs[0.2][0], runs[0.6][0], "--tracking-uri", uri, "--no-expand-seeds",
                 "--metric", "hit@5", "--resamples", "200"]) == 0
    printed = capsys.readouterr().out
    assert "seed(s) 0 1 2" not in printed and printed.count("seed(s) 0\n") == 2
    assert "mrr_avg" not in printed and "hit@5_avg" in printed


def test_compare_of_an_unknown_run_is_a_one_line_error(store, capsys) -> None:
    uri, runs = store
    assert main(["compare", runs[0.2][0], "0123456789abcdef", "--tracking-uri", uri]) == 2
    assert "run '0123456789abcdef': not found" in capsys.readouterr().err
