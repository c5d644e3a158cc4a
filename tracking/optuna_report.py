"""Optuna's view of a search sweep: parameter importances for validation Hit@5."""

from __future__ import annotations

from pathlib import Path

from tracking.figures import importance_bars
from tracking.reports import Report

OPTUNA_DB = "optuna.db"


def optuna_storage_uri(home: Path) -> str:
    return f"sqlite:///{Path(home) / OPTUNA_DB}"


def dashboard_command(home: Path) -> str:
    return f"optuna-dashboard {optuna_storage_uri(home)} --host 127.0.0.1"


def importances_report(study_name: str, home: Path) -> Report:
    """fANOVA importances of the study's completed trials (JSON and a bar chart), or the reason there are none."""
    import optuna

    importances, note = {}, "not computed"
    try:
        study = optuna.load_study(study_name=study_name, storage=optuna_storage_uri(home))
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
        if len(done) < 2:
            note = f"needs 2 or more completed trials, has {len(done)}"
        else:
            importances = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (KeyError, ValueError, RuntimeError) as exc:  # no such study, a single distinct value, ...
        note = f"not computed: {exc}"
    report = Report(documents={"param_importances": importances or {"note": note}})
    if importances:
        report.figures["param_importances"] = importance_bars(importances)
        report.lines.append("  parameter importances: " + ", ".join(f"{k} {v:.2f}" for k, v in importances.items()))
    else:
        report.lines.append(f"  parameter importances: {note}")
    report.lines.append(f"  Optuna study: {dashboard_command(home)}")
    return report
