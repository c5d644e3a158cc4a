"""The Ray workarounds of cluster/ray_compat.py are pinned to the Ray version they were checked against: an
upgrade fails here until each one is checked again, and each still names something this Ray reads."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import ray

from cluster import ray_compat

RAY_SOURCE = Path(ray.__file__).parent


def _ray_reads(variable: str, *modules: str) -> bool:
    return any(variable in (RAY_SOURCE / m).read_text() for m in modules)


def test_the_workarounds_were_checked_against_the_installed_ray() -> None:
    assert ray.__version__ == ray_compat.RAY_VERSION, (
        f"Ray {ray.__version__} is installed; cluster/ray_compat.py was checked against {ray_compat.RAY_VERSION}: "
        "check each workaround there again (this test names what each relies on), then update RAY_VERSION")


def test_each_environment_variable_set_is_still_read_by_ray() -> None:
    assert _ray_reads(ray_compat.LOOPBACK_ENV, "_private/ray_constants.py")
    for variable in ray_compat.LOCAL_TRAIN_ENV:
        assert _ray_reads(variable, "train/v2/_internal/constants.py"), variable
    assert _ray_reads(ray_compat.API_SERVER_ENV, "_private/ray_constants.py")
    assert _ray_reads("RAY_AIR_NEW_OUTPUT", "tune/experimental/output.py")
    assert _ray_reads("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "tune/execution/experiment_state.py")
    assert set(ray_compat.TUNE_ENV) == {"RAY_AIR_NEW_OUTPUT", "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"}


def test_quiet_tune_and_the_local_instance_options_set_what_the_user_did_not(monkeypatch) -> None:
    for variable in (*ray_compat.TUNE_ENV, *ray_compat.LOCAL_TRAIN_ENV):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("RAY_AIR_NEW_OUTPUT", "1")  # the user's choice wins
    ray_compat.quiet_tune()
    assert os.environ["RAY_AIR_NEW_OUTPUT"] == "1"
    assert os.environ["TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"] == "0"
    options = ray_compat.local_instance_options(8265)
    assert options["dashboard_host"] == "127.0.0.1" and options["include_dashboard"]
    assert options["runtime_env"]["env_vars"] == {"RAY_API_SERVER_ADDRESS": "http://127.0.0.1:8265"}
    assert all(os.environ[k] == v for k, v in ray_compat.LOCAL_TRAIN_ENV.items())


def test_ray_trains_per_report_loggers_still_exist_and_are_quieted() -> None:
    import importlib

    for name in ray_compat.QUIET_LOGGERS:  # the private modules whose loggers are quieted
        importlib.import_module(name)
    ray_compat.quiet_ray_train_logs()
    assert all(logging.getLogger(n).level == logging.WARNING for n in ray_compat.QUIET_LOGGERS)


def test_tunes_experiment_state_file_is_what_resume_looks_for(tmp_path: Path) -> None:
    from ray.tune.execution.tune_controller import TuneController

    written = TuneController.CKPT_FILE_TMPL.format("2026-12-06_13-00-00")  # what Tune writes as trials progress
    assert ray_compat.is_tune_experiment([written, "tuner.pkl"])
    assert not ray_compat.is_tune_experiment(["tuner.pkl", "basic-variant-state-x.json"])


@pytest.mark.parametrize("imported", [False, True])
def test_loopback_is_chosen_only_while_ray_can_still_read_it(monkeypatch, imported: bool) -> None:
    import sys

    monkeypatch.delenv(ray_compat.LOOPBACK_ENV, raising=False)
    if not imported:
        monkeypatch.delitem(sys.modules, "ray")
    assert ray_compat.bind_loopback() is not imported
    assert (os.environ.get(ray_compat.LOOPBACK_ENV) == "0") is not imported


def test_a_truncated_trial_error_is_dropped_before_tune_reads_it_and_a_whole_one_kept(tmp_path: Path) -> None:
    import cloudpickle
    import pyarrow.fs
    from ray.air.constants import EXPR_ERROR_PICKLE_FILE

    assert ray_compat.TRIAL_ERROR_PICKLE == EXPR_ERROR_PICKLE_FILE  # the name Tune 2.60 writes and restores
    whole = cloudpickle.dumps(RuntimeError("diverged"))
    (tmp_path / "trial_a").mkdir()
    (tmp_path / "trial_a" / EXPR_ERROR_PICKLE_FILE).write_bytes(whole)
    (tmp_path / "trial_b").mkdir()
    (tmp_path / "trial_b" / EXPR_ERROR_PICKLE_FILE).write_bytes(whole[: len(whole) // 2])  # a full disk cut it
    assert ray_compat.drop_truncated_trial_errors(str(tmp_path), pyarrow.fs.LocalFileSystem()) == 1
    assert (tmp_path / "trial_a" / EXPR_ERROR_PICKLE_FILE).exists()
    assert not (tmp_path / "trial_b" / EXPR_ERROR_PICKLE_FILE).exists()



def _stopped_sweep(tmp_path: Path, staged: bool) -> tuple[Path, Path, bytes]:
    """A sweep folder whose experiment state a full disk cut short, and Ray's temp folder where (if `staged`) its
    driver left the whole copy; returns (experiment folder, temp root, the whole state)."""
    import json
    import pickle

    name = "experiment_state-2026-12-06_16-50-01.json"
    whole = json.dumps({"runner_data": {}, "trial_data": [["t0", "{}"]]}).encode()
    experiment = tmp_path / "storage" / "beta_sweep-full"
    experiment.mkdir(parents=True)
    (experiment / name).write_bytes(whole[:20])
    (experiment / "tuner.pkl").write_bytes(pickle.dumps({"trainable": "run_trial"}))
    # Tune 2.60 pickles its grid searcher's state into a .json: whole, it must be left alone
    (experiment / "basic-variant-state-2026-12-06_16-50-01.json").write_bytes(pickle.dumps({"_iterators": []}))
    temp_root = tmp_path / "ray"
    if staged:
        driver = temp_root / "session_2026-12-06_16-49-58_1_1/artifacts/2026-12-06_16-50-01/beta_sweep-full"
        (driver / "driver_artifacts").mkdir(parents=True)
        (driver / "driver_artifacts" / name).write_bytes(whole)
    return experiment, temp_root, whole


def test_state_a_full_disk_cut_short_is_restored_from_the_stopped_drivers_staged_copy(tmp_path: Path) -> None:
    """CI, stop 24: the disk filled while Tune saved its experiment state; on --resume Tune logged "Failed to
    restore the run state", started the sweep anew and left the first run's trials as extra child runs."""
    import pyarrow.fs

    experiment, temp_root, whole = _stopped_sweep(tmp_path, staged=True)
    before = {p.name: p.read_bytes() for p in experiment.iterdir()}
    replaced = ray_compat.restore_cut_short_state(str(experiment), pyarrow.fs.LocalFileSystem(), temp_root)
    assert replaced == ["experiment_state-2026-12-06_16-50-01.json"]
    assert (experiment / replaced[0]).read_bytes() == whole
    assert {p.name: p.read_bytes() for p in experiment.iterdir() if p.name not in replaced} == {
        name: data for name, data in before.items() if name not in replaced}  # whole already: left alone


def test_state_cut_short_without_a_staged_copy_refuses_the_resume_naming_the_file(tmp_path: Path) -> None:
    import pyarrow.fs

    from rcml_core.writable import StorageError

    experiment, temp_root, _ = _stopped_sweep(tmp_path, staged=False)
    with pytest.raises(StorageError, match=r"experiment_state-2026-12-06_16-50-01\.json: Tune's saved state was "
                                           r"cut short .* cannot resume; run it again under a new --name"):
        ray_compat.restore_cut_short_state(str(experiment), pyarrow.fs.LocalFileSystem(), temp_root)


def test_the_staged_copy_is_where_this_ray_stages_a_drivers_files() -> None:
    """The layout restore_cut_short_state searches is Ray 2.60's StorageContext.experiment_driver_staging_path."""
    import inspect

    from ray.train._internal.storage import StorageContext

    assert '"driver_artifacts"' in inspect.getsource(StorageContext.experiment_driver_staging_path.fget)
    assert "_get_ray_train_session_dir(), self._timestamp, self.experiment_dir_name" in inspect.getsource(
        StorageContext._get_session_path)


def _space(trial) -> dict:
    return {"lr": trial.suggest_float("lr", 1e-4, 1e-2)}


def test_a_result_for_an_optuna_trial_already_finished_in_storage_is_ignored_not_a_crash(tmp_path: Path) -> None:
    """The resumed worker-group sweep of a killed driver: Optuna was told trial 0 ended, Tune had not saved it,
    the restarted trial reports its last result again (stock OptunaSearch: UpdateFinishedTrialError)."""
    import pickle

    import optuna

    search = ray_compat.ResumableOptunaSearch(
        _space, metric="val/hit@5", mode="max",
        study_name="s", seed=0, storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}"))
    search.suggest("t0")
    search.on_trial_result("t0", {"val/hit@5": 0.2, "training_iteration": 1})
    again = pickle.loads(pickle.dumps(search))  # Tune's saved searcher: picklable by name, state as it was
    search.on_trial_complete("t0", {"val/hit@5": 0.3, "training_iteration": 2})
    again.on_trial_result("t0", {"val/hit@5": 0.3, "training_iteration": 2})  # must not raise
    assert "t0" in again._completed_trials
    assert [t.state for t in again._ot_study.trials] == [optuna.trial.TrialState.COMPLETE]
