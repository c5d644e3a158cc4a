"""Text tables of retrieval metrics with their intervals, from a flat metrics dict (rcml_core.eval.keys).

One row per scorer and similarity type; a cell is `mean [lo, hi]`, or `mean ± std [lo, hi]` in a table
over seeds (std over seeds, pooled interval). Model-free reference scorers have one row (no similarity
type). Used by `rcml eval`, the sweeps' console summary and the quality bar, so they read alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rcml_core.eval import keys

SIM_LABELS = {"tt": "TT", "ii": "II", "ti": "TI", "it": "IT", "avg": "AVG"}


def estimate(mean: float, std: float | None = None, lo: float | None = None, hi: float | None = None,
             ci_digits: int = 4) -> str:
    """`mean ± std [lo, hi]`, without the std or the interval where it is missing (None or NaN): every table cell
    and printed value of an evaluation or a sweep's results."""
    text = f"{mean:.4f}"
    if std is not None and math.isfinite(std):
        text += f" ± {std:.4f}"
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        text += f" [{lo:.{ci_digits}f}, {hi:.{ci_digits}f}]"
    return text


def cell(metrics: Mapping[str, float], key: str) -> str:
    """`estimate` of the value under `key` with its `_std` and interval from `metrics`; `-` without a value."""
    value = metrics.get(key)
    if value is None or not math.isfinite(value):
        return "-"
    return estimate(value, metrics.get(keys.std_key(key)), *(metrics.get(k) for k in keys.ci_keys(key)))


def retrieval_rows(metrics: Mapping[str, float], split: str, labels: Mapping[str, str] | None = None,
                   sims: Sequence[str] = keys.SIMILARITIES,
                   rank_metrics: Sequence[str] = keys.RANK_METRICS) -> list[dict[str, str]]:
    """Rows {"scorer", "sim", <metric>...} for every scorer prefix present in `metrics`, in keys.PREFIXES
    order; `labels` renames scorers (e.g. {"": "RCML"})."""
    names = {**keys.LABELS, **(labels or {})}
    rows = []
    for prefix in keys.PREFIXES:
        if prefix in keys.REFERENCES:
            if keys.metric_key(split, keys.PRIMARY_METRIC, None, prefix) in metrics:
                rows.append({"scorer": names[prefix], "sim": "-",
                             **{m: cell(metrics, keys.metric_key(split, m, None, prefix)) for m in rank_metrics}})
            continue
        for sim in sims:
            if keys.metric_key(split, keys.PRIMARY_METRIC, sim, prefix) in metrics:
                rows.append({"scorer": names[prefix], "sim": SIM_LABELS[sim],
                             **{m: cell(metrics, keys.metric_key(split, m, sim, prefix)) for m in rank_metrics}})
    return rows


def render(rows: Sequence[Mapping[str, str]]) -> list[str]:
    """Left-aligned fixed-width lines, a header from the first row's keys."""
    if not rows:
        return []
    columns = list(rows[0])
    width = {c: max(len(c), *(len(r.get(c, "")) for r in rows)) for c in columns}
    line = lambda r: "  ".join(str(r.get(c, "")).ljust(width[c]) for c in columns).rstrip()  # noqa: E731
    return [line({c: c for c in columns}), *(line(r) for r in rows)]


def counts_line(metrics: Mapping[str, float], split: str) -> str:
    """`N queries over P distinct pairs` (and seeds, in a table over seeds) of the model's retrieval."""
    q = metrics.get(keys.count_key(split, keys.N_QUERIES))
    p = metrics.get(keys.count_key(split, keys.N_PAIRS))
    if q is None:
        q = next((v for k, v in metrics.items() if k.startswith(f"{split}/") and k.endswith(keys.N_QUERIES)), None)
        p = next((v for k, v in metrics.items() if k.startswith(f"{split}/") and k.endswith(keys.N_PAIRS)), None)
    text = f"{int(q or 0)} queries over {int(p or 0)} distinct pairs"
    seeds = metrics.get(f"{split}/{keys.N_SEEDS}")
    if seeds is not None:
        text += f", {int(seeds)} seed(s): mean ± std over seeds [pooled 95% CI]"
    else:
        text += " [95% CI, bootstrap over pairs]"
    return text
