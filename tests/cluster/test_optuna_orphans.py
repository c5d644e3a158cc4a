"""After a search sweep ran to its end, Optuna trials still RUNNING (asked by a driver SIGKILLed before Tune saved
them) end FAIL and are listed on the study, so that the study holds no trial that will never be told."""

from __future__ import annotations

from pathlib import Path

import optuna

from cluster.tuner import end_orphaned_optuna_trials
from tracking.optuna_report import optuna_storage_uri


def test_trials_left_running_by_a_dead_driver_end_failed_and_are_listed(tmp_path: Path) -> None:
    study = optuna.create_study(study_name="hparam_search-x", storage=optuna_storage_uri(tmp_path),
                                direction="maximize")
    for value in (0.2, 0.3):
        trial = study.ask()
        trial.suggest_float("beta", 0.0, 1.0)
        study.tell(trial, value)
    study.ask().suggest_float("beta", 0.0, 1.0)  # asked, then the driver died
    assert end_orphaned_optuna_trials("hparam_search-x", tmp_path) == 1
    state = optuna.trial.TrialState
    again = optuna.load_study(study_name="hparam_search-x", storage=optuna_storage_uri(tmp_path))
    assert [t.state for t in again.get_trials()] == [state.COMPLETE, state.COMPLETE, state.FAIL]
    assert again.user_attrs["rcml.orphaned_trials"] == [2]
    assert [t.value for t in again.get_trials()][:2] == [0.2, 0.3]  # the told trials are untouched
    assert end_orphaned_optuna_trials("hparam_search-x", tmp_path) == 0
