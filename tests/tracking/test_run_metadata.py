"""What makes the MLflow store readable: configuration labels, dataset inputs, git commit, config artifact,
the UI link to the training runs, the registered version's description."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

from tracking import run_metadata
from tracking.run_tags import configuration_label, seed_value
from tracking.store import resolve_tracking


def test_a_configuration_label_names_the_axes_in_order_without_the_seed_and_with_readable_numbers() -> None:
    config = {"summary_mix": "logit", "beta": 0.6000000000000001, "seed": 1}
    assert configuration_label(config, ("summary_mix", "beta")) == "summary_mix=logit beta=0.6"
    search = {"lr": 0.0012345678, "batch_size": np.float64(32.0), "tau": 0.07, "lambda_intra": float("nan"), "seed": 0}
    assert configuration_label(search) == "batch_size=32 lr=0.001235 tau=0.07"  # NaN: a parameter not sampled
    assert configuration_label({"frozen_backbone": np.bool_(True)}) == "frozen_backbone=true"
    assert seed_value({"seed": np.int64(2)}) == "2" and seed_value({}) == ""


def test_the_printed_ui_link_lands_on_the_experiments_training_runs(tmp_path: Path) -> None:
    local = resolve_tracking(tmp_path, env={})
    assert local.ui_command("7").endswith("http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning")
    server = resolve_tracking(tmp_path, env={"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000/"})
    assert "http://mlflow.internal:5000/#/experiments/3/runs?workflowType=machine_learning" in server.ui_command("3")


def test_a_run_records_the_commit_the_dataset_by_its_manifest_hash_and_its_resolved_config(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    content_hash = "ab" * 32
    (data / "manifest.json").write_text(json.dumps({"name": "synth-x", "schema_version": "1.0",
                                                    "content_hash": content_hash, "counts": {"items": 3}}))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    run_metadata.describe_experiment(client, experiment)
    run_metadata.describe_run(client, run_id, "f" * 40, run_metadata.dataset_input(data), config={"model": {"beta": 0.6}},
                              tags={"seed": "1"})
    run = client.get_run(run_id)
    assert run.data.tags["mlflow.source.git.commit"] == "f" * 40 and run.data.tags["seed"] == "1"
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == content_hash[:32] and dataset_input.dataset.name == "synth-x"
    assert json.loads(dataset_input.dataset.profile)["content_hash"] == content_hash
    local = client.download_artifacts(run_id, "config.json", str(tmp_path / "dl"))
    assert json.loads(Path(local).read_text()) == {"model": {"beta": 0.6}}
    note = client.get_experiment(experiment).tags["mlflow.note.content"]
    for term in ("val/", "test/", "selected/", "baselines/", "_tt", "_ii", "_ti", "_it", "free_", "ref_", "_ci_lo",
                 "_ci_hi", "n_queries", "n_pairs"):
        assert term in note, term
    from rcml_core.eval import keys

    for stage in (keys.FINAL, keys.SELECTED, keys.BASELINES, keys.CONFIGURATIONS, keys.OOD):  # every stage prefix
        assert f"{stage}/" in note, stage
    assert "val/hit_at_5_avg" in note and "there is no" in note  # the AVG similarity's one name is explained
    assert run_metadata.dataset_input(tmp_path / "nowhere") is None


def test_git_commit_is_the_checkouts_head_or_none_outside_one(tmp_path: Path) -> None:
    from cluster.paths import PROJECT_ROOT

    commit = run_metadata.git_commit(PROJECT_ROOT)
    assert commit is None or len(commit) == 40
    assert run_metadata.git_commit(tmp_path) is None


def test_the_registered_versions_description_says_configuration_seed_and_selection_rule() -> None:
    text = run_metadata.version_description("beta_sweep", "summary_mix=logit beta=0.6", 1, [0, 1, 2],
                                            "the highest mean val Hit@5", "beta_sweep-1")
    assert "summary_mix=logit beta=0.6" in text and "seed 1" in text and "0, 1, 2" in text
    assert "selection rule: the highest mean val Hit@5" in text
