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




@pytest.mark.parametrize("in_trial", [True, False], ids=["in_actor", "on_worker_group"])
def test_a_trial_resumed_after_its_last_epoch_reports_its_last_result_again(tmp_path: Path, local_ray,
                                                                           in_trial: bool) -> None:
    """A driver killed after a trial's last epoch but before Tune saved the trial's end: `--resume` restores the
    Tuner and starts the trial again, from its last checkpoint (Tune's, or its Train run's). Nothing is left to
    train, and the trial reports its last result again. (Seen in a resumed search sweep of worker-group trials:
    a restarted trial that reported nothing ended with a result without `val/hit@5`, which ASHA refused, and
    the resumed sweep stopped.)"""
    import ray.train
    from ray import tune
    from ray.train.torch import TorchTrainer
    from ray.tune.schedulers import ASHAScheduler

    from cluster.connect import ClusterInfo
    from cluster.resources import ResourceConfig, plan_trials

    data = tmp_path / "data"
    ensure_embedded_data(data, smoke=True)
    marker, run_dir = tmp_path / "ended-once", tmp_path / "run"
    base = [f"data={data}", "batch_size=8", "max_steps_per_epoch=2", f"out_dir={run_dir}", "train.num_threads=1",
            "epochs=2"]
    plan = plan_trials(ResourceConfig(in_trial=in_trial), ClusterInfo("127.0.0.1:1", True, 2.0, 0.0, 1, None))

    def end_then_die_once(config: dict) -> None:
        from cluster.worker import train_worker

        TorchTrainer(train_worker, scaling_config=plan.path.scaling_config(plan),
                     train_loop_config={"preset": "tiny", "overrides": base, "tracking": None, "mlflow_run_id": None,
                                        "final_splits": (), "trial_path": plan.path},
                     run_config=ray.train.RunConfig(name="train-once", storage_path=str(tmp_path / "train_runs"),
                                                    callbacks=plan.path.train_callbacks())).fit()
        if not marker.exists():
            marker.touch()
            raise RuntimeError("simulated: the driver died before Tune saw this trial end")

    trainable = tune.with_resources(end_then_die_once, plan.trial_resources)
    # ASHA checks every result for its metric; its horizon lies past the 2 epochs, so it lets the trial end
    asha = ASHAScheduler(time_attr="epoch", metric="val/hit@5", mode="max", max_t=3, grace_period=1)
    tune.Tuner(trainable, tune_config=tune.TuneConfig(scheduler=asha),
               run_config=tune.RunConfig(name="ended", storage_path=str(tmp_path / "ray_results"), verbose=0)).fit()
    assert marker.exists()
    (result,) = tune.Tuner.restore(str(tmp_path / "ray_results" / "ended"), trainable, resume_errored=True).fit()
    assert result.error is None
    assert result.metrics["epoch"] == 2 and "val/hit@5" in result.metrics
    assert result.metrics_dataframe["epoch"].tolist() == [0, 1, 2, 2]  # the last result again, no epoch retrained
    history = json.loads((run_dir / "metrics.json").read_text())["epochs"]
    assert [round(h["epoch"]) for h in history] == [0, 1, 2]  # no epoch trained again
