"""An ablation sweep's result: each variant's drop against the reference (`full`), with paired intervals.

Every variant is scored on the same val selection queries (each trial's `outcomes/selection-val.npz`), so a
drop is a paired difference (tracking.compare.ablation_drops): its 95 % bootstrap interval resamples the same
distinct query pairs for both sides (and the seeds jointly when both ran the same seeds), its p-value is
two-sided and Holm-adjusted over the variants of each metric, and `*` marks a drop significant at 0.05 after
that adjustment. An ablation sweep selects and registers its reference variant, never an ablated one: the
drops are what it is for (a variant scoring above `full` within noise is not a better model).

    report = drops_report(trials, outcomes, "full", variant_key="variant")   # table, Figure 4 with CIs, lines

`trials` is cluster.outcome's trials table (`trial_id`, the variant column, `seed`); `outcomes` maps a trial id
to its per-query val outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rcml_core.eval import keys  # noqa: E402
from rcml_core.eval.results import QueryOutcomes  # noqa: E402
from tracking.compare import SeedOutcomes, ablation_drops  # noqa: E402
from tracking.reports import Report  # noqa: E402

DROP_METRICS = tuple(keys.outcome_name(m, s) for m in (keys.PRIMARY_METRIC, keys.MRR) for s in keys.SIMILARITIES)
SEED = "seed"  # the trials table's seed column
TABLE = "ablation_drops"  # <report>/ablation_drops.csv and .png


def variant_outcomes(trials: pd.DataFrame, outcomes: Mapping[str, QueryOutcomes],
                     variant_key: str) -> dict[str, SeedOutcomes]:
    """variant -> its trials' per-query val outcomes by seed (trials without outcomes left out)."""
    out: dict[str, SeedOutcomes] = {}
    for variant, group in trials.groupby(variant_key, sort=False):
        by_seed = {int(row[SEED]) if SEED in row and not pd.isna(row[SEED]) else 0: outcomes[row["trial_id"]]
                   for _, row in group.iterrows() if row["trial_id"] in outcomes}
        if by_seed:
            out[str(variant)] = SeedOutcomes.from_seeds(by_seed)
    return out


def drops_table(trials: pd.DataFrame, outcomes: Mapping[str, QueryOutcomes], reference: str,
                variant_key: str) -> pd.DataFrame:
    """tracking.compare.ablation_drops over the variants that left outcomes (empty without the reference's)."""
    configs = variant_outcomes(trials, outcomes, variant_key)
    if reference not in configs or len(configs) < 2:
        return pd.DataFrame()
    names = [n for n in DROP_METRICS if all(n in c.values for c in configs.values())]
    ordered = {reference: configs[reference], **{k: v for k, v in configs.items() if k != reference}}
    return ablation_drops(ordered, reference, names)


def drops_figure(table: pd.DataFrame, reference: str, metric: str = keys.PRIMARY_METRIC) -> Figure:
    """Paper Figure 4 with its uncertainty: relative drop of val Hit@5 against `reference` per variant and
    similarity type, 95 % paired interval as error bars; `*` over a bar significant after Holm."""
    data = table[table["metric"].str.startswith(f"{metric}_")]
    variants = list(dict.fromkeys(data["variant"]))
    sims = [s for s in keys.SIMILARITIES if f"{metric}_{s}" in set(data["metric"])]
    x = np.arange(len(variants))
    width = 0.8 / max(len(sims), 1)
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    for i, sim in enumerate(sims):
        rows = data[data["metric"] == f"{metric}_{sim}"].set_index("variant").reindex(variants)
        mid = rows["relative_drop"].to_numpy(dtype=float)
        err = np.abs(np.stack([mid - rows["relative_drop_ci_lo"].to_numpy(dtype=float),
                               rows["relative_drop_ci_hi"].to_numpy(dtype=float) - mid]))  # (2, V)
        offset = x + (i - (len(sims) - 1) / 2) * width
        ax.bar(offset, mid, width, yerr=np.nan_to_num(err), capsize=2, label=sim.upper())
        for xi, yi, hi, mark in zip(offset, mid, rows["relative_drop_ci_hi"], rows["mark"]):
            if mark and math.isfinite(yi):
                ax.text(xi, max(yi, float(hi) if math.isfinite(float(hi)) else yi), mark, ha="center", va="bottom")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, variants, fontsize=8)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel(f"relative drop of val {metric} vs {reference}")
    ax.set_title(f"Drop against {reference} (positive = worse), 95% paired CI; * significant after Holm", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncol=len(sims), fontsize=8)
    fig.tight_layout()
    return fig


def drops_report(trials: pd.DataFrame, outcomes: Mapping[str, QueryOutcomes], reference: str,
                 variant_key: str) -> Report:
    """The table (`ablation_drops.csv`), the figure and one printed line per variant (AVG Hit@5)."""
    report = Report(lines=[f"  ablation: the reference variant {reference!r} is the sweep's model (selected and "
                           "registered); the others are drops against it, never selected"])
    table = drops_table(trials, outcomes, reference, variant_key)
    if table.empty:
        report.lines.append(f"  ablation drops: no per-query val outcomes of {reference!r} and another variant; "
                            "no paired intervals (relative_drop_vs_full.csv has the drops without them)")
        return report
    report.tables[TABLE] = table
    report.figures[TABLE] = drops_figure(table, reference)
    avg = keys.outcome_name(keys.PRIMARY_METRIC, "avg")
    rows = table[table["metric"] == avg]
    first = table.iloc[0]
    report.lines.append(f"  drop of val hit@5 AVG against {reference} ({reference} - variant; 95% paired bootstrap CI "
                        f"over {int(first['n_pairs'])} distinct pairs of {int(first['n_queries'])} queries; "
                        "p Holm-adjusted over the variants; * significant at 0.05):")
    for _, r in rows.iterrows():
        report.lines.append(f"    {r['variant']:<16} {r['variant_mean']:.4f}  drop {r['drop']:+.4f} "
                            f"[{r['drop_ci_lo']:+.4f}, {r['drop_ci_hi']:+.4f}] ({r['relative_drop']:+.1%})  "
                            f"p_holm {r['p_holm']:.3f} {r['mark']}".rstrip())
    return report
