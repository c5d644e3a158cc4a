"""The sweeps' figures (matplotlib, headless) and tables, from a per-configuration summary.

`summary` is cluster.outcome.summarize's table: one row per configuration with
`best_val_mean/std` (AVG Hit@5) and `val/hit@5_<sim>_mean/std` for each similarity type, and
the interval pooled over the configuration's seeds, `best_val_ci_lo/hi` and
`val/hit@5_<sim>_ci_lo/hi` (NaN where no trial left per-query outcomes).

Tables:
- `hit5_table`: configurations x similarity types, `mean ± std [pooled 95% CI]`, with the
  reference scorers and the training-free score on the same val queries as extra rows;
- `metrics_table`: a flat metrics dict (rcml_core.eval.keys) as one numeric row per scorer,
  similarity type and metric (mean, std over seeds, interval, counts).

- `beta_curve`: paper Figure 5, validation Hit@5 against beta, one line per similarity type;
- `ablation_bars`: paper Figure 4, Hit@5 per ablation setting and similarity type, with the
  relative drop against the full model;
- `importance_bars`: Optuna's parameter importances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rcml_core.eval.keys import (  # noqa: E402
    FREE,
    N_PAIRS,
    N_QUERIES,
    N_SEEDS,
    PREFIXES,
    N_RTYPE_PAIRS,
    N_VALIDITY,
    PRIMARY_METRIC,
    RANK_METRICS,
    REFERENCES,
    RTYPE_CHANCE_TOP3,
    RTYPE_TOP1,
    RTYPE_TOP3,
    VALIDITY_ACC,
    SIMILARITIES,
    ci_keys,
    count_key,
    metric_key,
    std_key,
)
from rcml_core.eval.keys import LABELS as SCORER_LABELS  # noqa: E402
from rcml_core.eval.tables import SIM_LABELS as LABELS  # noqa: E402
from rcml_core.eval.tables import estimate  # noqa: E402


def _col(sim: str, stat: str) -> str:
    return f"best_val_{stat}" if sim == "avg" else f"{metric_key('val', PRIMARY_METRIC, sim)}_{stat}"


def hit5_table(summary: pd.DataFrame, keys_: Sequence[str], baselines: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Configurations x similarity types: 'mean ± std [pooled CI]' strings plus the numeric AVG mean, the seed
    count n, how many seeds were pooled and the queries / distinct pairs the interval resampled.

    baselines: flat val metrics of the scorers that need no trial (reference scorers, the training-free score,
    rcml_core.eval.keys names), appended as rows labelled in the first axis column.
    """
    keys_ = list(keys_)
    out = summary[keys_].copy()
    for sim in SIMILARITIES:
        mean, std = summary[_col(sim, "mean")], summary[_col(sim, "std")].fillna(0.0)
        lo = summary.get(_col(sim, "ci_lo"), pd.Series(np.nan, index=summary.index))
        hi = summary.get(_col(sim, "ci_hi"), pd.Series(np.nan, index=summary.index))
        out[f"hit@5 {LABELS[sim]}"] = [estimate(*v) for v in zip(mean, std, lo, hi)]
    out["avg_mean"] = summary["best_val_mean"]
    for column in ("n", "n_pooled", "n_queries", "n_pairs", "stopped_early"):
        if column in summary:
            out[column] = summary[column]
    rows = [out]
    b = baselines or {}
    for prefix in (FREE, *REFERENCES):
        avg = metric_key("val", PRIMARY_METRIC, None if prefix in REFERENCES else "avg", prefix)
        if avg not in b:
            continue
        row = {k: "" for k in keys_}
        if keys_:
            row[keys_[0]] = SCORER_LABELS[prefix]
        for sim in SIMILARITIES:
            key = metric_key("val", PRIMARY_METRIC, None if prefix in REFERENCES else sim, prefix)
            lo, hi = ci_keys(key)
            row[f"hit@5 {LABELS[sim]}"] = estimate(b[key], b.get(std_key(key)), b.get(lo), b.get(hi))
        row.update(avg_mean=b[avg], n=b.get(count_key("val", N_SEEDS, prefix), np.nan),
                   n_queries=b.get(count_key("val", N_QUERIES, prefix), np.nan),
                   n_pairs=b.get(count_key("val", N_PAIRS, prefix), np.nan))
        rows.append(pd.DataFrame([row]))
    return pd.concat(rows, ignore_index=True) if len(rows) > 1 else out


def metrics_table(metrics: Mapping[str, float], split: str) -> pd.DataFrame:
    """One numeric row per (scorer, similarity type, Hit@k / MRR): mean, std over seeds, interval, counts."""
    rows = []
    for prefix in PREFIXES:
        sims: Sequence[str | None] = [None] if prefix in REFERENCES else SIMILARITIES
        for sim in sims:
            for metric in RANK_METRICS:
                key = metric_key(split, metric, sim, prefix)
                if key not in metrics:
                    continue
                lo, hi = ci_keys(key)
                rows.append({"split": split, "scorer": SCORER_LABELS[prefix], "prefix": prefix, "sim": sim or "",
                             "metric": metric, "mean": metrics[key], "std": metrics.get(std_key(key), np.nan),
                             "ci_lo": metrics.get(lo, np.nan), "ci_hi": metrics.get(hi, np.nan),
                             "n_queries": metrics.get(count_key(split, N_QUERIES, prefix), np.nan),
                             "n_pairs": metrics.get(count_key(split, N_PAIRS, prefix), np.nan),
                             "n_seeds": metrics.get(count_key(split, N_SEEDS, prefix),
                                                    metrics.get(f"{split}/{N_SEEDS}", np.nan))})
    return pd.DataFrame(rows)


def beta_curve(summary: pd.DataFrame, title: str = "Validation Hit@5 against beta") -> Figure:
    """Paper Figure 5: one panel per summary_mix mode (when the sweep has that axis), a line per similarity."""
    modes = list(dict.fromkeys(summary["summary_mix"])) if "summary_mix" in summary else [None]
    fig, axes = plt.subplots(1, len(modes), figsize=(6.0 * len(modes), 4.2), dpi=120, sharey=True, squeeze=False)
    for ax, mode in zip(axes[0], modes):
        data = (summary if mode is None else summary[summary["summary_mix"] == mode]).sort_values("beta")
        for sim in SIMILARITIES:
            ax.errorbar(data["beta"], data[_col(sim, "mean")], yerr=_error_bars(data, sim),
                        marker="o", capsize=3, label=LABELS[sim], linewidth=2.2 if sim == "avg" else 1.2)
        ax.set_xlabel("beta (0 = relation attention only)")
        ax.set_title(title if mode is None else f"summary_mix = {mode}" + MODE_NOTES.get(mode, ""), fontsize=10)
        ax.grid(alpha=0.3)
    pooled = all(_col(sim, "ci_lo") in summary and summary[_col(sim, "ci_lo")].notna().all() for sim in SIMILARITIES)
    axes[0][0].set_ylabel("val Hit@5: mean over seeds, " + ("pooled 95% CI" if pooled else "± std over seeds"))
    axes[0][0].legend(ncol=5, fontsize=8, loc="lower center")
    if modes != [None]:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _error_bars(data: pd.DataFrame, sim: str) -> np.ndarray:
    """(2, n) distances below and above each mean: the pooled 95 % interval over query pairs where every point
    has one, else the std over seeds (one panel never mixes the two)."""
    mean = data[_col(sim, "mean")].to_numpy(dtype=float)
    lo, hi = _col(sim, "ci_lo"), _col(sim, "ci_hi")
    if lo in data and hi in data and data[lo].notna().all() and data[hi].notna().all():
        return np.stack([mean - data[lo].to_numpy(dtype=float), data[hi].to_numpy(dtype=float) - mean]).clip(min=0.0)
    std = data[_col(sim, "std")].fillna(0.0).to_numpy(dtype=float)
    return np.stack([std, std])


MODE_NOTES = {"logit": " (eq. 5 literally: the paper's Figure 5)", "prob": " (beta on intra rows only)"}


def relative_drop(summary: pd.DataFrame, key: str, reference: str) -> pd.DataFrame:
    """Per setting: AVG Hit@5 mean and its drop relative to the reference setting (positive = worse)."""
    ref = summary.loc[summary[key] == reference, "best_val_mean"]
    if ref.empty:
        raise ValueError(f"reference {reference!r} has no result")
    base = float(ref.iloc[0])
    out = summary[[key, "best_val_mean", "best_val_std", "n"]].copy()
    out["relative_drop"] = (base - out["best_val_mean"]) / base if base else np.nan
    return out


def ablation_bars(summary: pd.DataFrame, key: str = "variant", reference: str = "full",
                  title: str = "Validation Hit@5 per ablation") -> Figure:
    data = summary.reset_index(drop=True)
    x = np.arange(len(data))
    width = 0.8 / len(SIMILARITIES)
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    for i, sim in enumerate(SIMILARITIES):
        ax.bar(x + (i - 2) * width, data[_col(sim, "mean")], width, yerr=data[_col(sim, "std")].fillna(0.0),
               capsize=2, label=LABELS[sim])
    drops = relative_drop(data, key, reference)["relative_drop"] if reference in set(data[key]) else None
    labels = [str(v) if drops is None or v == reference else f"{v}\n({-d:+.1%})"
              for v, d in zip(data[key], drops if drops is not None else [0] * len(data))]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("val Hit@5")
    ax.set_title(title + (f" (AVG change vs {reference} in brackets)" if drops is not None else ""), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncol=5, fontsize=8)
    fig.tight_layout()
    return fig


def importance_bars(importances: Mapping[str, float], title: str = "Optuna parameter importances") -> Figure:
    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6.0, 0.5 + 0.45 * max(1, len(items))), dpi=120)
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_xlabel("importance (fANOVA) for val Hit@5")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def close(fig: Figure) -> None:
    plt.close(fig)


def relation_type_bars(metrics: Mapping[str, float], prefix: str = "selected/test/") -> Figure | None:
    """Paper Figure 2: relation-type Top-1 and Top-3 per similarity type (mean ± std over seeds) beside the
    random Top-3 of the same pairs; `metrics` as the parent run stores them (`selected/test/rtype_top3_tt`,
    ...). None when the sweep recorded no relation-type task."""
    top1 = [metrics.get(f"{prefix}{RTYPE_TOP1}_{s}") for s in SIMILARITIES]
    top3 = [metrics.get(f"{prefix}{RTYPE_TOP3}_{s}") for s in SIMILARITIES]
    if any(v is None for v in top1 + top3):
        return None
    std = lambda name: [metrics.get(f"{prefix}{name}_{s}_std", 0.0) for s in SIMILARITIES]  # noqa: E731
    x = np.arange(len(SIMILARITIES))
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=120)
    ax.bar(x - 0.2, top1, 0.4, yerr=std(RTYPE_TOP1), capsize=3, label="Top-1")
    ax.bar(x + 0.2, top3, 0.4, yerr=std(RTYPE_TOP3), capsize=3, label="Top-3")
    chance = metrics.get(f"{prefix}{RTYPE_CHANCE_TOP3}")
    if chance is not None:
        ax.axhline(chance, color="black", linestyle="--", linewidth=1, label=f"random Top-3 ({chance:.3f})")
    ax.set_xticks(x, [LABELS[s] for s in SIMILARITIES])
    n = metrics.get(f"{prefix}{N_RTYPE_PAIRS}")
    ax.set_ylabel("accuracy (mean ± std over seeds)")
    ax.set_title("Relation-type prediction" + (f" ({int(n)} test pairs)" if n else ""), fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def validity_bar(metrics: Mapping[str, float], prefix: str = "selected/test/") -> Figure | None:
    """Paper Figure 3: the relation-validity probe's accuracy (mean ± std over seeds); None without the task."""
    acc = metrics.get(f"{prefix}{VALIDITY_ACC}")
    if acc is None:
        return None
    fig, ax = plt.subplots(figsize=(3.6, 3.8), dpi=120)
    ax.bar([0], [acc], 0.5, yerr=[metrics.get(std_key(f"{prefix}{VALIDITY_ACC}"), 0.0)], capsize=4)
    ax.set_xticks([0], ["selected"])
    ax.set_ylim(0.0, 1.0)
    n = metrics.get(f"{prefix}{N_VALIDITY}")
    ax.set_ylabel("accuracy (mean ± std over seeds)")
    ax.set_title("Relation validity" + (f" ({int(n)} test instances)" if n else ""), fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
