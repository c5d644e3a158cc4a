"""Paper Table 1 from a sweep's parent run: Hit@5 and MRR per similarity type, with their uncertainty.

The parent run holds the selected configuration's test metrics over its seeds (`selected/test/...`, see the
experiment's description, tracking.run_metadata): per scorer and similarity type the mean over seeds, `_std`
over seeds and the pooled 95 % interval `_ci_lo/_ci_hi`, and the query / distinct-pair / seed counts. One row
per scorer present (the model, the CLIP baselines trained beside it, `baselines/test/...`, the training-free
score, the model-free reference scorers); the best value of each column is bold in Markdown and HTML. When
the sweep was given --ood-data, an out-of-domain column (`OOD AVG`) holds each scorer's AVG value on that
dataset's test queries (`ood/test/...`: the selected checkpoints, the training-free score and the reference
scorers fitted there; the CLIP baselines are not evaluated there and show "-").

    table = table1(parent_metrics, "hit@5")     # numeric: one row per scorer, mean/std/ci_lo/ci_hi per sim
    text = markdown(table, "hit@5")
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import pandas as pd

from rcml_core.eval import keys
from rcml_core.eval.tables import estimate
from tracking.mlflow_tracker import mlflow_key

STAGE = keys.SELECTED  # the parent run's prefix of the selected configuration's metrics
BASELINES = keys.BASELINES  # the CLIP baselines trained beside it (cluster/baselines.py): concat_ and plain_ on test
STATS = ("mean", "std", "ci_lo", "ci_hi")
SUFFIXES = ("", keys.STD, keys.CI_LO, keys.CI_HI)  # each stat's key suffix
OOD = "ood"  # the out-of-domain column's name prefix (`ood_mean`, ...) and its metrics' stage


def _key(split: str, metric: str, sim: str | None, prefix: str, suffix: str = "", stage: str = STAGE) -> str:
    return f"{stage}/" + mlflow_key(keys.metric_key(split, metric, sim, prefix)) + suffix


def table1(metrics: Mapping[str, float], metric: str = keys.PRIMARY_METRIC, split: str = "test") -> pd.DataFrame:
    """Numeric Table 1 for `metric`: one row per scorer with metrics on the parent run; columns `<sim>_<stat>`
    (a model-free reference scorer has one value, shown under AVG), and the counts."""
    rows = []
    for prefix in keys.PREFIXES:
        sims = [None] if prefix in keys.REFERENCES else list(keys.SIMILARITIES)
        # where the scorer's rows live on the parent: `selected/` (the selected configuration's own evaluation),
        # else `baselines/` (the CLIP runs a sweep trains beside it); none: the scorer is not in the table
        stage = next((st for st in (STAGE, BASELINES)
                      if any(_key(split, metric, s, prefix, stage=st) in metrics for s in sims)), None)
        if stage is None:
            continue
        row: dict[str, object] = {"scorer": keys.LABELS[prefix] if prefix else "RCML (selected)", "prefix": prefix}
        for sim in keys.SIMILARITIES:
            reference = prefix in keys.REFERENCES
            base = _key(split, metric, None if reference else sim, prefix, stage=stage)
            for stat, suffix in zip(STATS, SUFFIXES):
                shown = not reference or sim == "avg"  # a reference scorer's one value, under AVG
                row[f"{sim}_{stat}"] = float(metrics.get(base + suffix, math.nan)) if shown else math.nan
        for count in (keys.N_QUERIES, keys.N_PAIRS):
            row[count] = float(metrics.get(f"{stage}/" + keys.count_key(split, count, prefix), math.nan))
        row[keys.N_SEEDS] = float(metrics.get(f"{stage}/" + keys.count_key(split, keys.N_SEEDS, prefix),
                                              metrics.get(f"{STAGE}/{split}/{keys.N_SEEDS}", math.nan)))
        row.update(_ood(metrics, split, metric, prefix))
        rows.append(row)
    return pd.DataFrame(rows)


def _ood(metrics: Mapping[str, float], split: str, metric: str, prefix: str) -> dict[str, float]:
    """The scorer's AVG value on the out-of-domain dataset (`ood/{split}/...`), NaN where it has none."""
    base = _key(split, metric, None if prefix in keys.REFERENCES else "avg", prefix, stage=keys.OOD)
    out = {f"{OOD}_{stat}": float(metrics.get(base + suffix, math.nan))
           for stat, suffix in zip(STATS, SUFFIXES)}
    for count in (keys.N_QUERIES, keys.N_PAIRS):
        out[f"{OOD}_{count}"] = float(metrics.get(f"{keys.OOD}/" + keys.count_key(split, count, prefix), math.nan))
    return out


def columns(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(column prefix, header) of the table's value columns: the similarity types, then OOD AVG when present."""
    out = [(sim, sim.upper()) for sim in keys.SIMILARITIES]
    if f"{OOD}_mean" in table and table[f"{OOD}_mean"].notna().any():
        out.append((OOD, "OOD AVG"))
    return out


def _cell(row: pd.Series, sim: str) -> str:
    mean, std, lo, hi = (row[f"{sim}_{s}"] for s in STATS)
    return "-" if math.isnan(mean) else estimate(mean, std, lo, hi, ci_digits=3)


def cells(table: pd.DataFrame) -> list[list[tuple[str, bool]]]:
    """Each row's (text, is_best) per value column (`columns`)."""
    shown = [c for c, _ in columns(table)]
    best = {c: table[f"{c}_mean"].max() for c in shown}  # NaN where a column has no value
    return [[(_cell(row, c), row[f"{c}_mean"] == best[c]) for c in shown] for _, row in table.iterrows()]


def caption(table: pd.DataFrame, metric: str, split: str = "test", ood_name: str | None = None) -> str:
    first = table.iloc[0]
    sizes = {keys.N_QUERIES: "queries", keys.N_PAIRS: "distinct item pairs", keys.N_SEEDS: "seed(s)"}
    counts = ", ".join(f"{int(first[c])} {label}" for c, label in sizes.items() if not math.isnan(first[c]))
    text = (f"{split} {metric} per similarity type: mean ± std over seeds [pooled 95% bootstrap CI over distinct "
            f"query pairs]; {counts}; best per column in bold")
    if (OOD, "OOD AVG") in columns(table):
        n = {label: first.get(f"{OOD}_{c}", math.nan) for c, label in sizes.items() if c != keys.N_SEEDS}
        ood = ", ".join(f"{int(v)} {label}" for label, v in n.items() if not math.isnan(v))
        text += (f"; OOD AVG: the same checkpoints on the out-of-domain dataset {ood_name or '(--ood-data)'}"
                 + (f" ({ood})" if ood else ""))
    return text


def markdown(table: pd.DataFrame, metric: str, split: str = "test", ood_name: str | None = None) -> str:
    shown = columns(table)
    head = "| scorer | " + " | ".join(h for _, h in shown) + " |"
    lines = [f"*{caption(table, metric, split, ood_name)}*", "", head, "|" + "---|" * (len(shown) + 1)]
    for (_, row), row_cells in zip(table.iterrows(), cells(table)):
        texts = [f"**{text}**" if best else text for text, best in row_cells]
        lines.append(f"| {str(row['scorer']).replace('|', chr(92) + '|')} | " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


def html_table(table: pd.DataFrame, metric: str, split: str = "test", ood_name: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns(table))
    body = []
    for (_, row), row_cells in zip(table.iterrows(), cells(table)):
        tds = "".join(f"<td><b>{html.escape(t)}</b></td>" if best else f"<td>{html.escape(t)}</td>"
                      for t, best in row_cells)
        body.append(f"<tr><th>{html.escape(str(row['scorer']))}</th>{tds}</tr>")
    return (f"<table><caption>{html.escape(caption(table, metric, split, ood_name))}</caption>"
            f"<tr><th>scorer</th>{head}</tr>{''.join(body)}</table>")
