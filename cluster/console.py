"""What a sweep prints when it ends: the results table, the selection, test metrics, where to look."""

from __future__ import annotations

import math

from cluster.launcher import SweepResult
from rcml_core.eval.similarity import SIMILARITIES

TEST_KEYS = ("test/hit@1", "test/hit@5", "test/hit@10", "test/mrr", "test/rtype_top3_avg", "test/validity_acc")


def _pm(mean: float, std: float) -> str:
    return f"{mean:.4f} ± {0.0 if math.isnan(std) else std:.4f}"


def results_lines(result: SweepResult, keys: list[str]) -> list[str]:
    lines = [f"\nsweep {result.sweep_name}"]
    if result.interrupted:
        return lines + result.lines
    s = result.summary
    keys = [k for k in keys if k in s]
    head = "  ".join(f"{k:>14}" for k in keys) + f"  {'val hit@5 AVG':>17}  " + "  ".join(
        f"{sim.upper():>6}" for sim in SIMILARITIES if sim != "avg") + "  seeds"
    lines.append(head)
    for _, row in s.iterrows():
        cells = "  ".join(f"{str(row[k]):>14}" for k in keys)
        sims = "  ".join(f"{row[f'val/hit@5_{sim}_mean']:6.3f}" for sim in SIMILARITIES if sim != "avg")
        failed = f" ({int(row['failed'])} failed)" if row.get("failed", 0) else ""
        lines.append(f"{cells}  {_pm(row['best_val_mean'], row['best_val_std']):>17}  {sims}  {int(row['n'])}{failed}")
    errors = result.trials[result.trials["status"] == "ERROR"]
    for _, row in errors.iterrows():
        lines.append(f"  failed trial {row['trial_id']}: {row['error']}")
    sel = result.selection
    if sel is not None:
        lines.append(f"selected: {', '.join(f'{k}={v}' for k, v in sel.config.items())} "
                     f"(val hit@5 {_pm(sel.mean, sel.std)} over {sel.n} seed(s))")
        test = result.test
        shown = [f"{k.split('/', 1)[1]} {_pm(test[k], test.get(k + '_std', float('nan')))}" for k in TEST_KEYS
                 if k in test]
        lines.append(f"test ({int(test.get('test/n_queries', 0))} queries, {sel.n} seed(s)): " + ", ".join(shown))
    lines += result.lines
    if result.model_version:
        lines.append(f"registered model: {result.model_version}")
    if result.report_dir:
        lines.append(f"report: {result.report_dir}")
    if result.tracking is not None:
        lines.append(f"MLflow UI: {result.tracking.ui_command()}")
    return lines
