"""Fixed, seeded evaluation sets (paper 4.3), built once per dataset so every trial is
scored on the same instances.

- Retrieval (val, test): one query per direction of every held-out edge (A, r, B); the
  candidates are B plus `n_negatives` items of the same split related to A under no
  relation (and not A). Queries whose A has too few unrelated items are dropped and
  counted.
- Relation type (val, test): held-out pairs with every inter relation they carry.
- Validity (train, val, test): positives are edges (A, B, r); negatives are split
  50/50 between "a related pair with a relation it does not carry" and "an unrelated
  pair of the split with a random inter relation" (the second kind fills in when the
  first runs out); labels are exactly balanced.

Inputs are one split's item ids and edges; every function is pure given its
`np.random.Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SplitGraph:
    """One split's items and edges as integer codes (code order = sorted item id order)."""

    item_ids: np.ndarray  # (N,) object, sorted
    src: np.ndarray  # (E,) int64 codes, src < dst
    dst: np.ndarray  # (E,) int64
    relation: np.ndarray  # (E,) int64 inter relation ids

    @classmethod
    def from_frames(cls, item_ids: np.ndarray, edges: pd.DataFrame) -> SplitGraph:
        ids = np.array(sorted(str(i) for i in item_ids), dtype=object)
        index = pd.Index(ids)
        return cls(
            item_ids=ids,
            src=index.get_indexer(edges["src"].to_numpy()).astype(np.int64),
            dst=index.get_indexer(edges["dst"].to_numpy()).astype(np.int64),
            relation=edges["relation_id"].to_numpy(dtype=np.int64),
        )

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def pair_keys(self) -> np.ndarray:
        """(E,) int64 key src * N + dst of each edge's unordered pair."""
        return self.src * self.n_items + self.dst

    def neighbours(self) -> list[np.ndarray]:
        """Per item, the sorted codes of items related to it under any relation."""
        a = np.concatenate([self.src, self.dst])  # (2E,)
        b = np.concatenate([self.dst, self.src])
        key = np.unique(a * self.n_items + b)  # distinct directed pairs, sorted by a
        a, b = key // self.n_items, key % self.n_items
        bounds = np.searchsorted(a, np.arange(self.n_items + 1))  # (N + 1,)
        return [b[bounds[i] : bounds[i + 1]] for i in range(self.n_items)]


def retrieval_set(g: SplitGraph, n_negatives: int, max_queries: int, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """RETRIEVAL_SCHEMA rows and the number of queries dropped for lack of negatives."""
    a = np.concatenate([g.src, g.dst])  # (2E,) both directions of each edge
    b = np.concatenate([g.dst, g.src])
    r = np.concatenate([g.relation, g.relation])
    order = np.lexsort((r, b, a))
    a, b, r = a[order], b[order], r[order]
    if len(a) > max_queries:
        pick = np.sort(rng.choice(len(a), size=max_queries, replace=False))
        a, b, r = a[pick], b[pick], r[pick]
    neighbours = g.neighbours()
    rows_src, rows_rel, rows_dst, rows_neg = [], [], [], []
    dropped = 0
    for qa, qb, qr in zip(a, b, r):
        allowed = np.ones(g.n_items, dtype=bool)
        allowed[neighbours[qa]] = False
        allowed[qa] = False
        pool = np.flatnonzero(allowed)
        if len(pool) < n_negatives:
            dropped += 1
            continue
        negatives = rng.choice(pool, size=n_negatives, replace=False)
        rows_src.append(g.item_ids[qa])
        rows_rel.append(qr)
        rows_dst.append(g.item_ids[qb])
        rows_neg.append([str(x) for x in g.item_ids[negatives]])
    frame = pd.DataFrame(
        {
            "query_id": np.arange(len(rows_src), dtype=np.int32),
            "src": pd.Series(rows_src, dtype=object),
            "relation_id": np.asarray(rows_rel, dtype=np.int32),
            "dst": pd.Series(rows_dst, dtype=object),
            "negatives": pd.Series(rows_neg, dtype=object),
        }
    )
    return frame, dropped


def relation_type_set(g: SplitGraph, max_pairs: int, rng: np.random.Generator) -> pd.DataFrame:
    """RELATION_TYPE_SCHEMA rows: distinct pairs of the split with all their relation ids."""
    keys = g.pair_keys()  # (E,)
    order = np.lexsort((g.relation, keys))
    keys, rel = keys[order], g.relation[order]
    uniq, starts = np.unique(keys, return_index=True)  # pairs sorted by (src, dst)
    bounds = np.append(starts, len(keys))
    chosen = np.arange(len(uniq))
    if len(uniq) > max_pairs:
        chosen = np.sort(rng.choice(len(uniq), size=max_pairs, replace=False))
    return pd.DataFrame(
        {
            "pair_id": np.arange(len(chosen), dtype=np.int32),
            "src": pd.Series(g.item_ids[uniq[chosen] // g.n_items], dtype=object),
            "dst": pd.Series(g.item_ids[uniq[chosen] % g.n_items], dtype=object),
            "relation_ids": pd.Series([rel[bounds[p] : bounds[p + 1]].astype(np.int32).tolist() for p in chosen], dtype=object),
        }
    )


def _unrelated_pairs(g: SplitGraph, related: set[int], count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to `count` distinct unrelated unordered pairs, as keys src * N + dst (src < dst)."""
    n = g.n_items
    total_unrelated = n * (n - 1) // 2 - len(related)
    count = min(count, total_unrelated)
    found: set[int] = set()
    out: list[int] = []
    while len(out) < count:  # rejection sampling; fine while unrelated pairs are not scarce
        x = rng.integers(0, n, size=2 * (count - len(out)) + 8)
        y = rng.integers(0, n, size=len(x))
        lo, hi = np.minimum(x, y), np.maximum(x, y)
        for k in (lo * n + hi)[lo < hi].tolist():
            if k not in related and k not in found:
                found.add(k)
                out.append(k)
                if len(out) == count:
                    break
    return np.asarray(out, dtype=np.int64)


def _pick_missing(
    carries: np.ndarray, n_missing: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`count` distinct (pair, relation column) cells with carries == False, uniformly.

    carries: (P, K) bool; n_missing: (P,) False cells per row. Samples positions in the
    flattened list of False cells without materialising it (P can be ~1e6 on real data).
    """
    flat = np.sort(rng.choice(int(n_missing.sum()), size=count, replace=False))  # (count,)
    ends = np.cumsum(n_missing)  # (P,) exclusive end of each row's block
    pair = np.searchsorted(ends, flat, side="right")  # (count,)
    rank = flat - (ends[pair] - n_missing[pair])  # which False cell of its row
    col = np.array([np.flatnonzero(~carries[p])[k] for p, k in zip(pair, rank)], dtype=np.int64)
    return pair.astype(np.int64), col


def validity_set(g: SplitGraph, inter_relations: np.ndarray, max_instances: int, rng: np.random.Generator) -> pd.DataFrame:
    """VALIDITY_SCHEMA rows with exactly as many label-1 as label-0 instances.

    inter_relations: (K,) the inter relation ids negatives may be drawn from.
    """
    n, rels = g.n_items, np.asarray(inter_relations, dtype=np.int64)
    keys = g.pair_keys()  # (E,)
    pair_keys = np.unique(keys)  # (P,)
    carries = np.zeros((len(pair_keys), len(rels)), dtype=bool)  # (P, K)
    carries[np.searchsorted(pair_keys, keys), np.searchsorted(rels, g.relation)] = True
    n_missing = len(rels) - carries.sum(axis=1)  # (P,) relations each related pair lacks
    total_missing = int(n_missing.sum())
    related = set(pair_keys.tolist())
    n_unrelated_pairs = n * (n - 1) // 2 - len(related)

    half = min(max_instances // 2, len(keys))
    want_a = min(half // 2, total_missing)
    want_b = min(half - want_a, n_unrelated_pairs)
    want_a = min(half - want_b, total_missing)  # each kind fills in when the other runs out
    half = want_a + want_b  # labels stay balanced when negatives run short
    pos = np.sort(rng.choice(len(keys), size=half, replace=False))
    miss_pair, miss_rel = _pick_missing(carries, n_missing, want_a, rng)  # (want_a,) each
    neg_b = _unrelated_pairs(g, related, want_b, rng)
    src = np.concatenate([g.src[pos], pair_keys[miss_pair] // n, neg_b // n])
    dst = np.concatenate([g.dst[pos], pair_keys[miss_pair] % n, neg_b % n])
    relation = np.concatenate([g.relation[pos], rels[miss_rel], rng.choice(rels, size=len(neg_b))])
    label = np.concatenate([np.ones(half, dtype=np.int8), np.zeros(want_a + len(neg_b), dtype=np.int8)])
    shuffle = rng.permutation(len(label))
    return pd.DataFrame(
        {
            "instance_id": np.arange(len(label), dtype=np.int32),
            "src": pd.Series(g.item_ids[src[shuffle]], dtype=object),
            "dst": pd.Series(g.item_ids[dst[shuffle]], dtype=object),
            "relation_id": relation[shuffle].astype(np.int32),
            "label": label[shuffle],
        }
    )
