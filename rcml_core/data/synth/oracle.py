"""A reference scorer that is told what the model must infer: every item's attributes.

On a synthetic catalog the generator knows each item's colour, pattern, material, age range and
brand. This scorer, fitted on train edges only, ranks a query's candidates by

    log(rate of the (query category, candidate category) pair under the query's relation + 0.5)
      + sum over attributes a of  log P(match_a | relation) / P(match_a)      if the candidate shares
                                  log P(mismatch_a | relation) / P(mismatch_a)  A's value of a, else

(naive Bayes over the attributes; P(match_a | relation) is the share of the relation's train edges
whose endpoints share a's value, P(match_a) the chance that two items do). It is no Bayes-optimal
ranking (it ignores popularity and how attributes interact), but it shows what reading the hidden
attributes can add above the category floor: the ceiling that docs/synthetic-data.md reports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from rcml_core.data.schema import RelationalDataset, RetrievalSet


def top_category(categories: pd.Series) -> np.ndarray:
    """(N,) int64 code of each item's category at the path's first two levels."""
    return np.unique([" > ".join(str(c).split(" > ")[:2]) for c in categories], return_inverse=True)[1]


def attribute_codes(attributes: pd.DataFrame, item_ids: pd.Series, names: Sequence[str]) -> np.ndarray:
    """(N, A) int64 value codes of the dataset's items (row order of `item_ids`); -1 where unknown.

    attributes: one column per name, indexed by item_id (e.g. from the generator's world).
    """
    table = attributes.reindex(item_ids.to_numpy())[list(names)]
    codes = np.stack([pd.factorize(table[a])[0] for a in names], axis=1)  # NaN -> -1
    return codes.astype(np.int64)


def attribute_oracle_scores(dataset: RelationalDataset, codes: np.ndarray, queries: RetrievalSet) -> np.ndarray:
    """(Q, C) scores of the queries' candidates (column 0 the positive); see the module docstring.

    codes: (N, A) attribute value codes per dataset item (attribute_codes).
    """
    cat = top_category(dataset.items["category"])  # (N,)
    n_cat = int(cat.max()) + 1
    train = dataset.split_edges("train")
    src, dst = train["src_idx"].to_numpy(), train["dst_idx"].to_numpy()
    rel = train["relation_id"].to_numpy(dtype=np.int64)
    n_rel = int(dataset.relations["relation_id"].max()) + 1
    # category-pair counts under each relation, both directions: (R, C, C)
    pair = np.zeros((n_rel, n_cat, n_cat))
    np.add.at(pair, (rel, cat[src], cat[dst]), 1.0)
    np.add.at(pair, (rel, cat[dst], cat[src]), 1.0)
    rate = pair / np.maximum(pair.sum(axis=2, keepdims=True), 1.0)  # P(candidate category | A's, relation)
    known = (codes[src] >= 0) & (codes[dst] >= 0)  # (E, A)
    match = (codes[src] == codes[dst]) & known
    match_rate = np.full((n_rel, codes.shape[1]), np.nan)  # P(match_a | relation): (R, A)
    for r in np.unique(rel):
        rows = rel == r
        match_rate[r] = match[rows].sum(axis=0) / np.maximum(known[rows].sum(axis=0), 1)
    chance = np.array([_chance(codes[:, a]) for a in range(codes.shape[1])])  # (A,)
    match_rate = np.where(np.isnan(match_rate), chance, match_rate).clip(1e-3, 1 - 1e-3)
    a_items, cands, q_rel = queries.src, queries.candidates, queries.relation  # (Q,), (Q, C), (Q,)
    scores = np.log(rate[q_rel[:, None], cat[a_items][:, None], cat[cands]] + 0.5 / max(len(src), 1))  # (Q, C)
    same = (codes[cands] == codes[a_items][:, None, :]) & (codes[cands] >= 0)  # (Q, C, A)
    p = match_rate[q_rel][:, None, :]  # (Q, 1, A)
    scores += np.where(same, np.log(p / chance), np.log((1 - p) / (1 - chance))).sum(axis=2)
    return scores


def _chance(values: np.ndarray) -> float:
    """P(two items drawn at random share the value), over items with a known value."""
    v = values[values >= 0]
    if len(v) == 0:
        return 0.5
    p = np.bincount(v) / len(v)
    return float(np.clip((p**2).sum(), 1e-3, 1 - 1e-3))
