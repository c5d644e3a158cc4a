"""Is one configuration really better than another? Paired bootstrap differences on the same queries.

Every configuration of a sweep is scored on the same fixed retrieval queries (docs/evaluation.md), so two
configurations can be compared query by query: the difference of their means is resampled with the SAME
draw of distinct query pairs for both (the pair, not the query, is the unit: one pair yields several
queries that succeed or fail together). That removes the variation that comes from which queries happen
to be in the set and that both share, so a paired interval is much narrower than two separate intervals.

Seeds: each configuration's per-query outcome is its mean over its seeds. When both configurations ran
the same seeds, the seeds are resampled jointly too (seed s of A with seed s of B: same data order and
initialisation draw), a two-level bootstrap over seeds and pairs; otherwise each configuration's seeds are
resampled on their own. With few seeds (3) the seed level is understated by a bootstrap (it sees 3 values);
the interval then mostly speaks for the query set.

Per metric the result is the difference with its 95 % percentile interval and a two-sided bootstrap
p-value, p = 2 min(P*(d <= 0), P*(d >= 0)) with the (count + 1) / (B + 1) correction, which rejects at
level alpha exactly when the (1 - alpha) percentile interval excludes zero (up to the correction). With
more than one comparison per metric the p-values are Holm-adjusted over the comparisons of that metric.

    outcomes = {"full": SeedOutcomes.from_seeds({0: q0, 1: q1}), "no_edge_text": ...}
    table = ablation_drops(outcomes, reference="full")        # drops with CIs, p, Holm, marks
    table = compare_to_reference(outcomes, reference="full")   # B - A differences, the same statistics

Pure numpy on top of rcml_core.eval.bootstrap; no MLflow (tracking.compare_runs reads the runs for `rcml compare`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rcml_core.eval.bootstrap import LEVEL, N_RESAMPLES, SEED, cluster_sums, resample_weights
from rcml_core.eval.results import QueryOutcomes

_BLOCK_CELLS = 1 << 21  # resamples x clusters per block of the weight matrix (16 MiB)


@dataclass(frozen=True)
class SeedOutcomes:
    """One configuration's per-query outcomes on one split's fixed queries, per seed.

    pair: (Q,) cluster label of each query (its unordered item pair, rcml_core.eval.results.pair_clusters);
    seeds: (S,) the seeds, in the order of the first axis of every value array;
    values: outcome name ("hit@5_avg", ...) -> (S, Q) outcome of each query under each seed.
    """

    pair: np.ndarray
    seeds: tuple[int, ...]
    values: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("SeedOutcomes needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        shape = (len(self.seeds), len(self.pair))
        for name, v in self.values.items():
            if np.shape(v) != shape:
                raise ValueError(f"outcome {name!r} has shape {np.shape(v)}, expected (seeds, queries) = {shape}")

    @classmethod
    def from_seeds(cls, by_seed: Mapping[int, QueryOutcomes]) -> SeedOutcomes:
        """Stack one QueryOutcomes per seed (the same queries in the same order, the same outcome names)."""
        if not by_seed:
            raise ValueError("from_seeds needs at least one seed's outcomes")
        seeds = tuple(sorted(by_seed))
        first = by_seed[seeds[0]]
        for s in seeds[1:]:
            o = by_seed[s]
            if len(o) != len(first) or not np.array_equal(o.pair, first.pair):
                raise ValueError(f"seed {s} was evaluated on other queries than seed {seeds[0]}")
        names = [n for n in first.values if all(n in by_seed[s].values for s in seeds)]
        values = {n: np.stack([np.asarray(by_seed[s].values[n], dtype=np.float64) for s in seeds]) for n in names}
        return cls(np.asarray(first.pair, dtype=np.int64), seeds, values)

    @property
    def n_pairs(self) -> int:
        return int(len(np.unique(self.pair)))

    def means(self, names: Sequence[str]) -> np.ndarray:
        """(M,) mean over seeds and queries of each outcome."""
        return np.array([float(np.mean(self.values[n])) for n in names])


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjustment (controls the family-wise error rate): adjusted p-values, input order.

    Sorted ascending, p_(i) becomes max_{j <= i} min(1, (m - j + 1) p_(j)); NaN stays NaN and is not counted.
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(np.isfinite(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    out[order] = np.maximum.accumulate(np.minimum(1.0, (len(valid) - np.arange(len(valid))) * p[order]))
    return out


def bootstrap_p(resampled: np.ndarray) -> np.ndarray:
    """Two-sided bootstrap p-values of `resampled` differences (B, ...) against zero (see the module docstring)."""
    b = resampled.shape[0]
    below = ((resampled <= 0).sum(axis=0) + 1) / (b + 1)
    above = ((resampled >= 0).sum(axis=0) + 1) / (b + 1)
    return np.minimum(1.0, 2.0 * np.minimum(below, above))


def _check_same_queries(configs: Mapping[str, SeedOutcomes]) -> np.ndarray:
    names = list(configs)
    first = configs[names[0]]
    for name in names[1:]:
        other = configs[name]
        if len(other.pair) != len(first.pair) or not np.array_equal(other.pair, first.pair):
            raise ValueError(f"{name!r} and {names[0]!r} were not evaluated on the same queries "
                             f"({len(other.pair)} and {len(first.pair)} queries): a paired comparison needs the same")
    return first.pair


def paired_resamples(configs: Mapping[str, SeedOutcomes], names: Sequence[str], n_resamples: int = N_RESAMPLES,
                     seed: int = SEED) -> tuple[dict[str, np.ndarray], bool]:
    """Resampled means of every configuration, drawn jointly: {config: (B, M)}, and whether the seeds were paired.

    One draw of distinct query pairs serves every configuration (paired over queries); the seeds are drawn
    jointly when every configuration has the same seeds, else independently per configuration.
    """
    pair = _check_same_queries(configs)
    seed_sets = {c.seeds for c in configs.values()}
    paired_seeds = len(seed_sets) == 1
    _, inverse = np.unique(pair, return_inverse=True)
    sums: dict[str, np.ndarray] = {}
    sizes = None
    for label, config in configs.items():
        missing = [n for n in names if n not in config.values]
        if missing:
            raise ValueError(f"{label!r} has no outcome {missing[0]!r}")
        per_seed = []
        for s in range(len(config.seeds)):
            matrix = np.stack([config.values[n][s] for n in names], axis=1)  # (Q, M)
            cluster_total, sizes = cluster_sums(matrix, inverse)  # (C, M), (C,)
            per_seed.append(cluster_total)
        sums[label] = np.stack(per_seed)  # (S, C, M)
    n_clusters = len(sizes)
    rng = np.random.default_rng(seed)
    out = {label: np.empty((n_resamples, len(names))) for label in configs}
    block = max(1, _BLOCK_CELLS // max(n_clusters, 1))
    for start in range(0, n_resamples, block):
        b = min(block, n_resamples - start)
        w = resample_weights(n_clusters, b, rng)  # (b, C): the same pairs for every configuration
        denominator = w @ sizes  # (b,) queries in each resample
        shared_u = resample_weights(len(next(iter(seed_sets))), b, rng) if paired_seeds else None  # (b, S)
        for label, config in configs.items():
            n_seeds = len(config.seeds)
            u = shared_u if shared_u is not None else resample_weights(n_seeds, b, rng)  # (b, S)
            per_seed = np.einsum("bc,scm->bsm", w, sums[label])  # (b, S, M) resampled sums per seed
            numerator = np.einsum("bs,bsm->bm", u, per_seed) / n_seeds  # (b, M) mean over drawn seeds
            out[label][start : start + b] = numerator / denominator[:, None]
    return out, paired_seeds


def compare_to_reference(configs: Mapping[str, SeedOutcomes], reference: str, names: Sequence[str] | None = None,
                         n_resamples: int = N_RESAMPLES, seed: int = SEED, level: float = LEVEL) -> pd.DataFrame:
    """Each other configuration minus `reference`, per outcome: paired difference, interval, p, Holm.

    One row per (configuration, metric): mean of each side, `diff` = other - reference with `ci_lo/ci_hi`,
    `p`, `p_holm` (over the configurations compared, per metric), `significant` (p_holm < 1 - level),
    `seeds_paired`, the seeds of each side and the query / distinct-pair counts.
    """
    return _differences(configs, reference, names, n_resamples, seed, level)[0]


def ablation_drops(configs: Mapping[str, SeedOutcomes], reference: str = "full", names: Sequence[str] | None = None,
                   n_resamples: int = N_RESAMPLES, seed: int = SEED, level: float = LEVEL) -> pd.DataFrame:
    """Paper Figure 4 with its uncertainty: each setting's drop relative to `reference` (positive = worse).

    Per (variant, metric): `drop` = reference - variant (absolute) with `drop_ci_lo/hi`, `relative_drop` =
    drop / reference mean with `relative_drop_ci_lo/hi` (the ratio of the same resamples), `p`, `p_holm` over
    the variants of that metric, and `mark`: "*" where significant after Holm, "" otherwise.
    """
    table, resampled = _differences(configs, reference, names, n_resamples, seed, level)
    if table.empty:
        return table
    tail = (1.0 - level) / 2.0
    out = table.rename(columns={"config": "variant", "mean_reference": "reference_mean", "mean": "variant_mean"})
    out["drop"] = -out.pop("diff")
    out["drop_ci_lo"], out["drop_ci_hi"] = -out.pop("ci_hi"), -out.pop("ci_lo")
    rel, rel_lo, rel_hi = [], [], []
    for _, row in out.iterrows():
        ref_draws, var_draws = resampled[row["variant"], row["metric"]]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (ref_draws - var_draws) / ref_draws
            point = (row["reference_mean"] - row["variant_mean"]) / row["reference_mean"]
        finite = ratio[np.isfinite(ratio)]
        rel.append(float(point) if np.isfinite(point) else np.nan)
        rel_lo.append(float(np.quantile(finite, tail)) if finite.size else np.nan)
        rel_hi.append(float(np.quantile(finite, 1 - tail)) if finite.size else np.nan)
    out["relative_drop"], out["relative_drop_ci_lo"], out["relative_drop_ci_hi"] = rel, rel_lo, rel_hi
    out["mark"] = np.where(out["significant"], "*", "")
    return out


def _differences(configs: Mapping[str, SeedOutcomes], reference: str, names: Sequence[str] | None,
                 n_resamples: int, seed: int, level: float) -> tuple[pd.DataFrame, dict]:
    if reference not in configs:
        raise ValueError(f"reference {reference!r} is not among the configurations {sorted(configs)}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    base = configs[reference]
    names = list(names) if names is not None else [n for n in base.values
                                                   if all(n in c.values for c in configs.values())]
    others = [c for c in configs if c != reference]
    if not others or not names:
        return pd.DataFrame(), {}
    draws, paired_seeds = paired_resamples(configs, names, n_resamples, seed)
    tail = (1.0 - level) / 2.0
    base_means = base.means(names)
    rows, resampled = [], {}
    for label in others:
        diff = draws[label] - draws[reference]  # (B, M) paired differences
        lo, hi = np.quantile(diff, [tail, 1.0 - tail], axis=0)
        p = bootstrap_p(diff)
        means = configs[label].means(names)
        for j, name in enumerate(names):
            resampled[label, name] = (draws[reference][:, j], draws[label][:, j])
            rows.append({"config": label, "reference": reference, "metric": name,
                         "mean_reference": float(base_means[j]), "mean": float(means[j]),
                         "diff": float(means[j] - base_means[j]), "ci_lo": float(lo[j]), "ci_hi": float(hi[j]),
                         "p": float(p[j]), "seeds_paired": paired_seeds,
                         "seeds_reference": " ".join(map(str, base.seeds)),
                         "seeds": " ".join(map(str, configs[label].seeds)),
                         "n_queries": int(len(base.pair)), "n_pairs": base.n_pairs})
    table = pd.DataFrame(rows)
    table["p_holm"] = np.nan
    for _, index in table.groupby("metric", sort=False).groups.items():
        table.loc[index, "p_holm"] = holm(table.loc[index, "p"].to_numpy())
    table["significant"] = table["p_holm"] < (1.0 - level)
    return table, resampled
