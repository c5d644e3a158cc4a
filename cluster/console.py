"""What a sweep prints when it ends: the results table, the selection, test metrics, where to look.

Validation table: per configuration, AVG Hit@5 as `mean ± std [pooled 95% CI]` over its seeds and
the mean per similarity type; under it, on the same val queries, the training-free score and the
model-free reference scorers. Test: the selected configuration, the CLIP baselines trained with the
same budget and seeds (cluster/baselines.py) and every other scorer on the same test queries
(rcml_core.eval.tables), each cell `mean ± std over seeds [pooled 95% CI]`.
"""

from __future__ import annotations

import math

from cluster.launcher import SweepResult
from rcml_core.eval import keys as metric_keys
from rcml_core.eval.tables import counts_line, estimate, render, retrieval_rows
from tracking.run_tags import configuration_label

TEST_KEYS = (f"test/{metric_keys.RTYPE_TOP3}_avg", f"test/{metric_keys.VALIDITY_ACC}")


def _pm(mean: float, std: float | None, lo: float = math.nan, hi: float = math.nan) -> str:
    """`mean ± std [lo, hi]`, a NaN std (one seed) as ± 0; without std (a model-free scorer) `mean [lo, hi]`."""
    return estimate(mean, None if std is None else 0.0 if math.isnan(std) else std, lo, hi, ci_digits=3)


def _value(value) -> str:
    """A configuration value as a table cell: `32` for a float column's 32.0, 4 significant digits, '-' for NaN."""
    label = configuration_label({"v": value})
    return label.split("=", 1)[1] if "=" in label else "-"


def _baseline_lines(baselines: dict[str, float], width: int) -> list[str]:
    lines = []
    for prefix in (metric_keys.FREE, *metric_keys.REFERENCES):
        sim = None if prefix in metric_keys.REFERENCES else "avg"
        key = metric_keys.metric_key("val", metric_keys.PRIMARY_METRIC, sim, prefix)
        if key not in baselines:
            continue
        lo, hi = (baselines.get(k, math.nan) for k in metric_keys.ci_keys(key))
        std = baselines.get(metric_keys.std_key(key))
        sims = "  ".join("      " if sim is None else
                         f"{baselines.get(metric_keys.metric_key('val', metric_keys.PRIMARY_METRIC, s, prefix), math.nan):6.3f}"
                         for s in metric_keys.SIMILARITIES if s != "avg")
        lines.append(f"{metric_keys.LABELS[prefix]:>{width}}  {_pm(baselines[key], std, lo, hi):>33}  {sims}".rstrip())
    return lines


def results_lines(result: SweepResult, keys: list[str]) -> list[str]:
    lines = [f"\nsweep {result.sweep_name}"]
    if result.interrupted:
        return lines + result.lines
    s = result.summary
    keys = [k for k in (keys or result.axes) if k in s]  # a search study's axes are its sampled parameters
    width = max([len(k) for k in keys] + [14])
    labels = [metric_keys.LABELS[p] for p in (metric_keys.FREE, *metric_keys.REFERENCES)]
    axes_width = max(len("  ".join(f"{k:>{width}}" for k in keys)), *(len(label) for label in labels))
    head = ("  ".join(f"{k:>{width}}" for k in keys)).rjust(axes_width) + f"  {'val hit@5 AVG [pooled CI]':>33}  " + \
        "  ".join(f"{sim.upper():>6}" for sim in metric_keys.SIMILARITIES if sim != "avg") + "  seeds"
    lines.append(head)
    for _, row in s.iterrows():
        cells = ("  ".join(f"{_value(row[k]):>{width}}" for k in keys)).rjust(axes_width)
        sims = "  ".join(f"{row[metric_keys.metric_key('val', metric_keys.PRIMARY_METRIC, sim) + '_mean']:6.3f}"
                         for sim in metric_keys.SIMILARITIES if sim != "avg")
        failed = f" ({int(row['failed'])} failed)" if row.get("failed", 0) else ""
        if row.get("stopped_early", 0):  # its score comes from fewer epochs than a full-budget one
            failed += f" ({int(row['stopped_early'])} stopped early by ASHA)"
        avg = _pm(row["best_val_mean"], row["best_val_std"], row.get("best_val_ci_lo", math.nan),
                  row.get("best_val_ci_hi", math.nan))
        lines.append(f"{cells}  {avg:>33}  {sims}  {int(row['n'])}{failed}")
    lines += _baseline_lines(result.val_baselines, axes_width)
    if "n_queries" in s and s["n_queries"].notna().any():
        lines.append(f"  (val: {int(s['n_queries'].max())} queries over {int(s['n_pairs'].max())} distinct pairs; "
                     "CI: 95% bootstrap over pairs, seeds pooled per query)")
    errors = result.trials[result.trials["status"] == "ERROR"]
    for _, row in errors.iterrows():
        lines.append(f"  failed trial {row['trial_id']}: {row['error']}")
    sel = result.selection
    if sel is not None:
        asha = "stopped_early" in sel.trials and bool(sel.trials["stopped_early"].any())
        stopped = " (stopped early by ASHA)" if asha else ""
        lines.append(f"selected: {configuration_label(sel.config, keys)} "
                     f"(val hit@5 {_pm(sel.mean, sel.std)} over {sel.n} seed(s)){stopped}")
        test = result.test
        lines.append(f"test: {counts_line(test, 'test')}")
        lines += ["  " + line for line in render(retrieval_rows({**test, **result.test_baselines}, "test",
                                                                labels={"": "selected"},
                                                                rank_metrics=(metric_keys.PRIMARY_METRIC,
                                                                              metric_keys.MRR)))]
        shown = [f"{k.split('/', 1)[1]} {_pm(test[k], test.get(k + '_std', float('nan')))}" for k in TEST_KEYS
                 if k in test]
        if shown:
            lines.append("  " + ", ".join(shown))
    lines += result.lines
    if result.model_version:
        lines.append(f"registered model: {result.model_version}")
    if result.report_dir:
        lines.append(f"report: {result.report_dir}")
        home = result.report_dir.parent.parent  # <home>/reports/<sweep>
        lines.append(f"report page: rcml report {result.parent_run_id} --home {home} --out "
                     f"{result.report_dir / 'rcml_report'}")
    if result.tracking is not None:
        lines.append(f"MLflow UI: {result.tracking.ui_command(result.experiment_id)}")
    return lines
