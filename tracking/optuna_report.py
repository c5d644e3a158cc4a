"""Optuna's view of a search sweep: parameter importances for validation Hit@5."""

from __future__ import annotations

from pathlib import Path

from tracking.reports import Report, importance_report

OPTUNA_DB = "optuna.db"


def optuna_storage_uri(home: Path) -> str:
    return f"sqlite:///{Path(home) / OPTUNA_DB}"


def dashboard_command(home: Path) -> str:
    return f"optuna-dashboard {optuna_storage_uri(home)} --host 127.0.0.1"


def importances_report(study_name: str, home: Path) -> Report:
    """fANOVA importances of the study's completed trials, or the reason there are none."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=optuna_storage_uri(home))
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if len(done) < 2:
            report = importance_report(None, f"needs 2 or more completed trials, has {len(done)}")
        else:
            importances = optuna.importance.get_param_importances(study)
            report = importance_report({k: float(v) for k, v in importances.items()})
    except (KeyError, ValueError, RuntimeError) as exc:  # no such study, a single distinct value, ...
        report = importance_report(None, f"not computed: {exc}")
    report.lines.append(f"  Optuna study: {dashboard_command(home)}")
    return report
