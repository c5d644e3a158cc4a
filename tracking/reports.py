"""What a sweep leaves on its parent run besides metrics: tables (CSV) and figures (PNG).

A `Report` is built from the per-configuration summary and the trials table
(cluster.outcome) by the study's report function, written to the sweep's report folder
and logged as artifacts of the parent run. Every sweep's report also gets
`evaluation_report` (docs/evaluation.md): the Hit@5 table with pooled intervals and the
reference scorers and training-free score as rows on the same val queries, the selected
configuration's test metrics beside those scorers, and the floor ratio.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from rcml_core.data.format.schema import RelationalDataset
from rcml_core.eval import keys as metric_keys
from tracking import figures
from tracking.run_tags import configuration_label


@dataclass
class Report:
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # name -> table (written as <name>.csv)
    figures: dict[str, Figure] = field(default_factory=dict)  # name -> figure (written as <name>.png)
    documents: dict[str, dict] = field(default_factory=dict)  # name -> JSON document
    lines: list[str] = field(default_factory=list)  # printed under the results table

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, table in self.tables.items():
            paths.append(folder / f"{name}.csv")
            table.to_csv(paths[-1], index=False)
        for name, fig in self.figures.items():
            paths.append(folder / f"{name}.png")
            fig.savefig(paths[-1])
            figures.close(fig)
        for name, doc in self.documents.items():
            paths.append(folder / f"{name}.json")
            paths[-1].write_text(json.dumps(doc, indent=2, default=str))
        return paths


def base_report(summary: pd.DataFrame, trials: pd.DataFrame, keys: list[str]) -> Report:
    """Every sweep: the trials table and the per-configuration Hit@5 table."""
    report = Report(tables={"trials": trials})
    if not summary.empty:
        report.tables["hit5_by_configuration"] = figures.hit5_table(summary, keys)
    return report


def evaluation_report(summary: pd.DataFrame, keys: list[str], val_baselines: Mapping[str, float],
                      test: Mapping[str, float]) -> Report:
    """What the launcher adds to every sweep's report (and overrides the plain Hit@5 table with).

    val_baselines: the reference scorers and the training-free score on the val selection queries;
    test: the selected configuration on test over its seeds (rcml_core.eval.results.seed_table).
    """
    report = Report()
    if not summary.empty:
        report.tables["hit5_by_configuration"] = figures.hit5_table(summary, keys, val_baselines)
    if test:
        report.tables["test_selected"] = figures.metrics_table(test, "test")
        report.lines += floor_lines(test, "test")
    if val_baselines:
        report.tables["val_baselines"] = figures.metrics_table(val_baselines, "val")
    return report


def floor_lines(metrics: Mapping[str, float], split: str) -> list[str]:
    """The model's Hit@5 AVG against the best reference scorer, the best CLIP baseline (when trained) and the
    training-free score on the same queries."""
    def key(sim: str | None, prefix: str = metric_keys.MODEL) -> str:
        return metric_keys.metric_key(split, metric_keys.PRIMARY_METRIC, sim, prefix)

    if key("avg") not in metrics:
        return []
    model = metrics[key("avg")]
    refs = {p: metrics[key(None, p)] for p in metric_keys.REFERENCES if key(None, p) in metrics}
    lines = []
    if refs:
        best = max(refs, key=refs.get)
        ratio = refs[best] / model if model else float("nan")
        name = metric_keys.LABELS[best].removeprefix("reference: ")
        lines.append(f"  {split} hit@5 AVG: selected {model:.4f}; best reference scorer ({name}) {refs[best]:.4f}; "
                     f"best reference / model = {ratio:.2f}")
    clips = {p: metrics[key("avg", p)] for p in (metric_keys.PLAIN, metric_keys.CONCAT) if key("avg", p) in metrics}
    if clips:
        best = max(clips, key=clips.get)
        ratio = model / clips[best] if clips[best] else float("nan")
        lines.append(f"  {split} hit@5 AVG: best CLIP baseline ({metric_keys.LABELS[best]}) {clips[best]:.4f}; "
                     f"model / best CLIP = {ratio:.2f}")
    if key("avg", metric_keys.FREE) in metrics:
        lines.append(f"  {split} hit@5 AVG of the training-free score (untrained backbone): "
                     f"{metrics[key('avg', metric_keys.FREE)]:.4f}")
    return lines


def ood_report(ood: Mapping[str, float]) -> Report:
    """The selected configuration on the out-of-domain dataset (`ood/test/...`, cluster.final_eval.ood_metrics):
    `test_ood.csv` (one numeric row per scorer, similarity type and metric, as `test_selected.csv`) and the
    floor lines on its queries; empty without --ood-data."""
    prefix = metric_keys.staged(metric_keys.OOD, "")
    test = {k.removeprefix(prefix): v for k, v in ood.items() if k.startswith(prefix)}
    if not test:
        return Report()
    lines = [f"  out-of-domain (--ood-data) {line.strip()}" for line in floor_lines(test, "test")]
    return Report(tables={"test_ood": figures.metrics_table(test, "test")}, lines=lines)


def beta_report(summary: pd.DataFrame, trials: pd.DataFrame, keys: list[str]) -> Report:
    """Paper Figure 5: Hit@5 against beta per similarity type."""
    report = base_report(summary, trials, keys)
    if not summary.empty and "beta" in summary:
        report.figures["hit5_vs_beta"] = figures.beta_curve(summary)
    return report


def ablation_report(summary: pd.DataFrame, trials: pd.DataFrame, keys: list[str], reference: str = "full") -> Report:
    """Paper Figure 4: Hit@5 per ablation setting, and the relative drop against the full model."""
    report = base_report(summary, trials, keys)
    if summary.empty or "variant" not in summary:
        return report
    report.figures["hit5_by_ablation"] = figures.ablation_bars(summary, "variant", reference)
    if reference in set(summary["variant"]):
        drops = figures.relative_drop(summary, "variant", reference)
        report.tables["relative_drop_vs_full"] = drops  # the printed lines, with paired CIs: tracking.report_ablation
    return report


def relation_report(dataset: RelationalDataset, scorers: Mapping[str, list]) -> Report:
    """Per-relation slices on test (`hit5_by_relation.csv`): each scorer's Hit@5 AVG on the queries of each
    relation, seeds pooled per query, with its interval over the slice's pairs (rcml_core.eval.slices).

    dataset: the sweep's dataset (the launcher loads it once);
    scorers: label -> the scorer's per-seed test `QueryOutcomes` (same queries); empty lists are skipped."""
    from rcml_core.eval.results import pool_seeds
    from rcml_core.eval.slices import relation_slices

    scorers = {label: outcomes for label, outcomes in scorers.items() if outcomes}
    if not scorers:
        return Report()
    if "test" not in dataset.retrieval:
        return Report()
    queries = dataset.retrieval["test"]
    texts = dict(zip(dataset.relations.index, dataset.relations["text"]))
    rows = []
    for label, outcomes in scorers.items():
        pooled = pool_seeds(outcomes)
        if len(pooled) != len(queries):  # evaluated on a capped query set: no slice can be matched
            continue
        rows += [{"scorer": label, **row} for row in relation_slices(pooled, queries.relation, texts=texts)]
    return Report(tables={"hit5_by_relation": pd.DataFrame(rows)}) if rows else Report()


CONFIGURATIONS = "configurations"  # the parent run's prefix of every configuration's val Hit@5 over its seeds
# summary column -> the key's tail under `configurations/<label>/` (the naming scheme of rcml_core.eval.keys:
# the key itself is the mean over seeds, `_std` the std over seeds, `_ci_lo/_ci_hi` the pooled interval)
SUMMARY_STATS = {"best_val_mean": metric_keys.SELECTION_METRIC,
                 "best_val_std": metric_keys.std_key(metric_keys.SELECTION_METRIC),
                 "best_val_ci_lo": metric_keys.SELECTION_METRIC + metric_keys.CI_LO,
                 "best_val_ci_hi": metric_keys.SELECTION_METRIC + metric_keys.CI_HI,
                 "n": metric_keys.count_key("val", metric_keys.N_SEEDS)}


def configuration_metrics(summary: pd.DataFrame, axes: list[str]) -> dict[str, float]:
    """Every configuration's val Hit@5 AVG over its seeds, for the parent run: `configurations/<label>/val/hit@5`
    (the mean), `..._std` (over seeds), `..._ci_lo/_ci_hi` (pooled over seeds and resampled over query pairs) and
    `configurations/<label>/val/n_seeds`; the label is the configuration (`summary_mix:logit beta:0.6`, colons
    for MLflow's metric-name characters)."""
    out: dict[str, float] = {}
    for _, row in summary.iterrows():
        label = configuration_label({k: row[k] for k in axes if k in row}, axes).replace("=", ":")
        label = re.sub(r"[^\w.\- :]", "_", label)
        for column, key in SUMMARY_STATS.items():
            if column in row and pd.notna(row[column]):
                out[f"{CONFIGURATIONS}/{label}/{key}"] = float(row[column])
    return out


def merge(*reports: Report) -> Report:
    out = Report()
    for r in reports:
        out.tables.update(r.tables)
        out.figures.update(r.figures)
        out.documents.update(r.documents)
        out.lines += r.lines
    return out
