"""What an evaluation returns: flat metrics plus the per-query outcomes they were computed from.

`EvalResult` is the small typed object that travels from an evaluation (a Ray task, `rcml eval`,
the quality bar) to whoever builds tables: `metrics` is the flat `{split}/...` dict of
rcml_core.eval.keys (with intervals and counts), `outcomes` the per-query arrays by scorer prefix,
so that intervals can be recomputed over several seeds (`pool_seeds`, `seed_table`) without
re-running a model.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rcml_core.eval import keys
from rcml_core.eval.bootstrap import N_RESAMPLES, SEED, cluster_bootstrap


def pair_clusters(src: np.ndarray, dst: np.ndarray, n_items: int) -> np.ndarray:
    """(Q,) int64 cluster label of each query (A, r, B): its unordered pair min(A, B) * n_items + max(A, B).

    Both directions of a pair and every relation it carries share one label; labels are item-index
    based, so they agree across runs on the same dataset.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    return np.minimum(src, dst) * int(n_items) + np.maximum(src, dst)


@dataclass(frozen=True)
class QueryOutcomes:
    """Per-query outcomes of one scorer on one split's fixed retrieval queries.

    pair: (Q,) int64 cluster label of each query (`pair_clusters`);
    values: outcome name (`keys.outcome_name`: "hit@5_tt", or "hit@5" for model-free scorers) -> (Q,)
        float outcome of each query (0/1 hit, reciprocal rank, or their expectation under ties).
    """

    pair: np.ndarray
    values: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        for name, v in self.values.items():
            if np.shape(v) != np.shape(self.pair):
                raise ValueError(f"outcome {name!r} has shape {np.shape(v)}, expected {np.shape(self.pair)}")

    def __len__(self) -> int:
        return int(len(self.pair))

    @property
    def n_pairs(self) -> int:
        return int(len(np.unique(self.pair)))

    def report(self, split: str, prefix: str = keys.MODEL, n_resamples: int = N_RESAMPLES,
               seed: int = SEED) -> dict[str, float]:
        """Flat metrics: each outcome's mean with its `_ci_lo/_ci_hi` (the AVG outcome `hit@5_avg` under
        `{split}/{prefix}hit@5`: keys.outcome_key), and `n_queries` / `n_pairs`, keyed `{split}/{prefix}...`."""
        names = list(self.values)
        out: dict[str, float] = {}
        if names:
            matrix = np.stack([np.asarray(self.values[n], dtype=np.float64) for n in names], axis=1)  # (Q, M)
            ci = cluster_bootstrap(matrix, self.pair, n_resamples=n_resamples, seed=seed)
            for j, name in enumerate(names):
                key = keys.outcome_key(split, prefix, name)
                lo, hi = keys.ci_keys(key)
                out[key], out[lo], out[hi] = float(ci.mean[j]), float(ci.low[j]), float(ci.high[j])
        out[keys.count_key(split, keys.N_QUERIES, prefix)] = float(len(self))
        out[keys.count_key(split, keys.N_PAIRS, prefix)] = float(self.n_pairs)
        return out


@dataclass(frozen=True)
class EvalResult:
    """One split's evaluation: flat metrics and the per-query outcomes of every scorer, by key prefix."""

    split: str
    metrics: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, QueryOutcomes] = field(default_factory=dict)

    def merged(self, other: EvalResult) -> EvalResult:
        if other.split != self.split:
            raise ValueError(f"cannot merge results of splits {self.split!r} and {other.split!r}")
        clash = set(self.outcomes) & set(other.outcomes)
        if clash:
            raise ValueError(f"both results hold outcomes of scorer(s) {sorted(clash)}")
        return EvalResult(self.split, {**self.metrics, **other.metrics}, {**self.outcomes, **other.outcomes})

    def save(self, path: Path | str) -> Path:
        """Write to one .npz (no pickles): the metrics as JSON, every outcome array by `prefix|name`."""
        arrays: dict[str, np.ndarray] = {
            "__meta__": np.array(json.dumps({"split": self.split, "metrics": _finite_or_str(self.metrics)}))}
        for prefix, o in self.outcomes.items():
            arrays[f"{prefix}|pair"] = np.asarray(o.pair, dtype=np.int64)
            for name, v in o.values.items():
                arrays[f"{prefix}|{name}"] = np.asarray(v, dtype=np.float64)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        path.write_bytes(buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: Path | str) -> EvalResult:
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"]))
                grouped: dict[str, dict[str, np.ndarray]] = {}
                for name in data.files:
                    if name == "__meta__":
                        continue
                    prefix, _, outcome = name.partition("|")
                    grouped.setdefault(prefix, {})[outcome] = data[name]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not an evaluation result written by EvalResult.save ({exc})") from None
        outcomes = {p: QueryOutcomes(pair=g.pop("pair"), values=g) for p, g in grouped.items()}
        metrics = {k: float(v) for k, v in meta["metrics"].items()}
        return cls(meta["split"], metrics, outcomes)


def _finite_or_str(metrics: Mapping[str, float]) -> dict[str, float | str]:
    return {k: (float(v) if math.isfinite(float(v)) else str(float(v))) for k, v in metrics.items()}


def pool_seeds(outcomes: Sequence[QueryOutcomes]) -> QueryOutcomes:
    """The per-query mean over seeds of one scorer's outcomes (same queries in the same order).

    Seeds vary initialisation and batch order only; the queries are fixed, so each query's outcome
    averaged over seeds is what a pooled interval resamples (over pairs, as for one seed).
    """
    if not outcomes:
        raise ValueError("pool_seeds needs at least one result")
    first = outcomes[0]
    for o in outcomes[1:]:
        if len(o) != len(first) or not np.array_equal(o.pair, first.pair):
            raise ValueError("cannot pool outcomes over seeds: the runs were evaluated on different queries")
        if set(o.values) != set(first.values):
            raise ValueError(f"cannot pool outcomes over seeds: outcome names differ "
                             f"({sorted(set(o.values) ^ set(first.values))})")
    values = {n: np.mean([np.asarray(o.values[n], dtype=np.float64) for o in outcomes], axis=0) for n in first.values}
    return QueryOutcomes(pair=first.pair, values=values)


def seed_table(results: Sequence[EvalResult], n_resamples: int = N_RESAMPLES, seed: int = SEED) -> dict[str, float]:
    """One split over seeds: each metric's mean over seeds (`key`) and its std (`key_std`), the pooled
    95 % interval of every Hit@k / MRR (`key_ci_lo`, `key_ci_hi`), the counts and `{split}/n_seeds`.

    results: one EvalResult per seed of the same configuration, on the same split.
    """
    if not results:
        return {}
    split = results[0].split
    if any(r.split != split for r in results):
        raise ValueError(f"seed_table: results of several splits {sorted({r.split for r in results})}")
    out: dict[str, float] = {}
    names = [k for k in results[0].metrics if not keys.is_interval_or_spread(k)]
    for key in names:
        values = [r.metrics[key] for r in results if key in r.metrics and math.isfinite(r.metrics[key])]
        if not values:
            continue
        mean = float(np.mean(values))
        out[key] = mean
        if not keys.is_count(key):
            out[keys.std_key(key)] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    prefixes = set.intersection(*(set(r.outcomes) for r in results))
    for prefix in sorted(prefixes):
        pooled = pool_seeds([r.outcomes[prefix] for r in results])
        report = pooled.report(split, prefix, n_resamples=n_resamples, seed=seed)
        out.update({k: v for k, v in report.items() if keys.is_interval_or_spread(k) or keys.is_count(k)})
    out[f"{split}/{keys.N_SEEDS}"] = float(len(results))
    return out
