"""A trial that trains inside its Tune actor and crashes is retried by Tune from its latest checkpoint:
the retry resumes the loop where the checkpoint left it instead of starting over."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.sweep_settings import ensure_embedded_data

pytestmark = pytest.mark.slow


def test_a_crashed_in_trial_run_resumes_from_its_latest_tune_checkpoint(tmp_path: Path, local_ray) -> None:
    from ray import tune

    data = tmp_path / "data"
    ensure_embedded_data(data, smoke=True)  # the smoke sweeps' tiny synthetic catalog
    marker, run_dir = tmp_path / "crashed-once", tmp_path / "run"
    base = [f"data={data}", "batch_size=8", "max_steps_per_epoch=2", f"out_dir={run_dir}", "train.num_threads=1"]

    def crash_after_epoch_1_once(config: dict) -> None:  # a closure: Ray ships it by value to the trial actor
        from cluster.trial_path import InActor
        from cluster.worker import train_worker

        first = not marker.exists()
        train_worker({"preset": "tiny", "overrides": [*base, f"epochs={1 if first else 2}"], "tracking": None,
                      "mlflow_run_id": None, "final_splits": (), "trial_path": InActor()})
        if first:
            marker.touch()
            raise RuntimeError("simulated crash after epoch 1")

    tuner = tune.Tuner(
        tune.with_resources(crash_after_epoch_1_once, {"cpu": 1}),
        run_config=tune.RunConfig(name="resume", storage_path=str(tmp_path / "ray_results"), verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=1)),
    )
    (result,) = tuner.fit()
    assert result.error is None and marker.exists()
    # epochs 0 and 1 from the first attempt, then only epoch 2: the retry restored epoch 1's checkpoint.
    # Started over, the retry would report 0 and 1 again ([0, 1, 0, 1, 2]). When the crash follows epoch
    # 1's report within milliseconds, Tune can drop that queued result ([0, 2]); and on restore Tune copies
    # the trial's result log back from its last sync to storage, which may predate every result ([2]).
    # Whatever Tune kept, no epoch ever repeats, and the loop's own record has each epoch once.
    epochs = result.metrics_dataframe["epoch"].tolist()
    assert epochs[-1] == 2 and epochs == sorted(set(epochs)), epochs
    history = json.loads((run_dir / "metrics.json").read_text())["epochs"]
    assert [round(h["epoch"]) for h in history] == [0, 1, 2]
    assert result.checkpoint is not None
    with result.checkpoint.as_directory() as folder:
        assert {p.name for p in Path(folder).iterdir()} >= {"last", "best"}
