"""The sweeps' figures (matplotlib, headless) and tables, from a per-configuration summary.

`summary` is cluster.outcome.summarize's table: one row per configuration with
`best_val_mean/std` (AVG Hit@5) and `val/hit@5_<sim>_mean/std` for each similarity type.

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

from rcml_core.eval.similarity import SIMILARITIES  # noqa: E402

LABELS = {"tt": "TT", "ii": "II", "ti": "TI", "it": "IT", "avg": "AVG"}


def _col(sim: str, stat: str) -> str:
    return f"best_val_{stat}" if sim == "avg" else f"val/hit@5_{sim}_{stat}"


def hit5_table(summary: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Configurations x similarity types: 'mean ± std' strings plus the numeric AVG mean and n."""
    out = summary[list(keys)].copy()
    for sim in SIMILARITIES:
        mean, std = summary[_col(sim, "mean")], summary[_col(sim, "std")].fillna(0.0)
        out[f"hit@5 {LABELS[sim]}"] = [f"{m:.4f} ± {s:.4f}" for m, s in zip(mean, std)]
    out["avg_mean"] = summary["best_val_mean"]
    out["n"] = summary["n"]
    return out


def beta_curve(summary: pd.DataFrame, title: str = "Validation Hit@5 against beta") -> Figure:
    """Paper Figure 5: one panel per summary_mix mode (when the sweep has that axis), a line per similarity."""
    modes = list(dict.fromkeys(summary["summary_mix"])) if "summary_mix" in summary else [None]
    fig, axes = plt.subplots(1, len(modes), figsize=(6.0 * len(modes), 4.2), dpi=120, sharey=True, squeeze=False)
    for ax, mode in zip(axes[0], modes):
        data = (summary if mode is None else summary[summary["summary_mix"] == mode]).sort_values("beta")
        for sim in SIMILARITIES:
            ax.errorbar(data["beta"], data[_col(sim, "mean")], yerr=data[_col(sim, "std")].fillna(0.0),
                        marker="o", capsize=3, label=LABELS[sim], linewidth=2.2 if sim == "avg" else 1.2)
        ax.set_xlabel("beta (0 = relation attention only)")
        ax.set_title(title if mode is None else f"summary_mix = {mode}" + MODE_NOTES.get(mode, ""), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("val Hit@5 (mean ± std over seeds)")
    axes[0][0].legend(ncol=5, fontsize=8, loc="lower center")
    if modes != [None]:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


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
