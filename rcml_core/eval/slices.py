"""Per-relation slices of retrieval outcomes: Hit@k of one scorer on the queries of each relation type.

A sweep's test table averages over every query; a relation the model reads badly hides in that mean.
`relation_slices` splits the per-query outcomes (seeds already pooled, rcml_core.eval.results) by the
query's relation and gives each slice its mean, its 95 % interval over distinct item pairs (the same
cluster bootstrap as every other interval, docs/evaluation.md) and its counts.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from rcml_core.eval import keys
from rcml_core.eval.bootstrap import cluster_bootstrap
from rcml_core.eval.results import QueryOutcomes


def relation_slices(outcomes: QueryOutcomes, relation: np.ndarray,
                    outcome: str = keys.outcome_name(keys.PRIMARY_METRIC, keys.AVG),
                    texts: Mapping[int, str] | None = None) -> list[dict[str, float | int | str]]:
    """One row per relation present: relation_id, text, n_queries, n_pairs, mean, ci_lo, ci_hi of `outcome`.

    outcomes: (Q,) per-query outcomes of one scorer; relation: (Q,) int relation id of each query, same order.
    """
    relation = np.asarray(relation).reshape(-1)
    if len(relation) != len(outcomes):
        raise ValueError(f"{len(relation)} relation ids for {len(outcomes)} query outcomes")
    values = np.asarray(outcomes.values[outcome], dtype=np.float64)  # (Q,)
    rows = []
    for rel in np.unique(relation):
        mask = relation == rel  # (Q,) the slice
        ci = cluster_bootstrap(values[mask], outcomes.pair[mask])
        rows.append({"relation_id": int(rel), "text": (texts or {}).get(int(rel), ""),
                     "n_queries": int(mask.sum()), "n_pairs": int(len(np.unique(outcomes.pair[mask]))),
                     "mean": float(ci.mean[0]), "ci_lo": float(ci.low[0]), "ci_hi": float(ci.high[0])})
    return rows
