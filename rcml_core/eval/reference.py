"""Model-free reference scorers: the floor a learned model must clear (docs/evaluation.md, "Reference scorers").

Relations come from user clusters over categories, so the categories of (A, candidate) under the
query's relation predict a lot by themselves. Three scorers, fitted on TRAIN edges only, rank the
candidates of the fixed val/test retrieval queries:

- `pop`     popularity: the candidate's category popularity, i.e. how many train-edge endpoints lie
            in its category (splits are item-disjoint, so an eval item has no popularity of its own);
- `cat`     category pair: how many train edges join cat(A) and cat(candidate);
- `catrel`  category pair under the relation: the same, counting only edges of the query's relation.

Hierarchy. A category is a path "A > B > C" of any depth (Amazon paths are deep, Goodreads shallow,
the synthetic catalog has 3 levels). Each item gets one code per depth d = 1..L (its first d levels;
a path shorter than d keeps its full path), and each scorer compares candidates lexicographically:
first by the count at the finest level, ties broken by the next coarser level, and so on. This is
"the finest level with support, ties broken by coarser levels": where A's finest category has no
train edge every candidate counts 0 there, all tie, and the next coarser level decides. Lexicographic
backoff was chosen over an interpolated (smoothed) estimate because it has no parameter to tune on
the evaluation data, it reduces to the flat scorer on a one-level catalog, and it never discards the
finer evidence where it exists; its risk (a single leaf-level edge outranking a strong parent-level
signal on very deep, sparse paths) is what docs/evaluation.md discusses. Each scorer then backs off
to the less specific one: `catrel` ties are broken by `cat`, `cat` ties by `pop` (the most specific
evidence first); a backoff step only reorders candidates the more specific counts leave tied.

Ties that remain are broken uniformly at random, in expectation: the metrics are exact expected
values (rcml_core.eval.metrics.tie_aware_outcomes), not the pessimistic rule used for models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rcml_core.data.schema import RelationalDataset, RetrievalSet
from rcml_core.eval import keys
from rcml_core.eval.metrics import tie_aware_outcomes
from rcml_core.eval.results import EvalResult, QueryOutcomes, pair_clusters

SCORERS: tuple[str, ...] = ("pop", "cat", "catrel")
CATEGORY_SEPARATOR = ">"


def category_levels(categories: Sequence[str]) -> np.ndarray:
    """(N, L) int64 code of each item's category prefix at depth 1..L (L = the deepest path).

    Codes are distinct across depths; a path with fewer than d levels gets the code of its full path
    at depth d (so that items of a shallow category still match each other there). Levels are
    stripped of surrounding spaces; an empty category is one level of its own.
    """
    paths = [[part.strip() for part in str(c).split(CATEGORY_SEPARATOR)] for c in categories]
    depth = max((len(p) for p in paths), default=1)
    names = [f"{d}\x1f" + "\x1f".join(p[: min(d, len(p))]) for p in paths for d in range(1, depth + 1)]
    _, codes = np.unique(np.array(names, dtype=object), return_inverse=True)
    return codes.reshape(len(paths), depth).astype(np.int64)


class _Counts:
    """Sorted unique int64 keys with their counts; `lookup` gives 0 for a key never seen."""

    def __init__(self, keys_: np.ndarray) -> None:
        self.keys, self.counts = np.unique(np.asarray(keys_, dtype=np.int64), return_counts=True)

    def lookup(self, query: np.ndarray) -> np.ndarray:
        if not len(self.keys):
            return np.zeros(np.shape(query), dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.keys, query), len(self.keys) - 1)
        return np.where(self.keys[pos] == query, self.counts[pos], 0)


@dataclass(frozen=True)
class ReferenceModel:
    """Train-edge counts per category level: endpoints per category, edges per category pair, per
    (relation, category pair). Pairs are unordered: an edge adds (x, y) and, when x != y, (y, x)."""

    levels: np.ndarray  # (N, L) item category codes (`category_levels`)
    n_codes: int
    endpoints: _Counts  # key: code
    pairs: _Counts  # key: x * n_codes + y
    relation_pairs: _Counts  # key: (relation * n_codes + x) * n_codes + y
    n_train_edges: int

    def level_counts(self, scorer: str, src: np.ndarray, relation: np.ndarray, candidates: np.ndarray) -> list[np.ndarray]:
        """The scorer's lexicographic score components, most specific first: each (Q, C) int64.

        src (Q,), relation (Q,) and candidates (Q, C) are item indices / relation ids.
        """
        if scorer not in SCORERS:
            raise ValueError(f"unknown reference scorer {scorer!r}; known: {SCORERS}")
        k = np.int64(self.n_codes)
        depth = self.levels.shape[1]
        finest_first = range(depth - 1, -1, -1)
        a = [self.levels[src, d][:, None] for d in finest_first]  # each (Q, 1)
        c = [self.levels[candidates, d] for d in finest_first]  # each (Q, C)
        rel = np.asarray(relation, dtype=np.int64)[:, None]  # (Q, 1)
        parts = []
        if scorer == "catrel":
            parts += [self.relation_pairs.lookup((rel * k + ad) * k + cd) for ad, cd in zip(a, c)]
        if scorer in ("catrel", "cat"):
            parts += [self.pairs.lookup(ad * k + cd) for ad, cd in zip(a, c)]
        parts += [self.endpoints.lookup(cd) for cd in c]
        return parts


def fit_reference(dataset: RelationalDataset) -> ReferenceModel:
    """Count the TRAIN split's edges (val/test edges are never read)."""
    levels = category_levels(dataset.items["category"].tolist())
    n_codes = int(levels.max()) + 1 if levels.size else 1
    if (dataset.n_relations + 1) * float(n_codes) ** 2 >= 2.0**62:
        raise ValueError(f"{n_codes} category codes x {dataset.n_relations} relations overflow the count keys")
    edges = dataset.split_edges("train")
    s = edges["src_idx"].to_numpy(dtype=np.int64)
    d = edges["dst_idx"].to_numpy(dtype=np.int64)
    r = edges["relation_id"].to_numpy(dtype=np.int64)
    k = np.int64(n_codes)
    ends, pairs, rel_pairs = [], [], []
    for level in range(levels.shape[1]):
        x, y = levels[s, level], levels[d, level]
        ends += [x, y]
        off = x != y  # the reverse direction, once per edge that joins two different categories
        pairs += [x * k + y, (y * k + x)[off]]
        rel_pairs += [(r * k + x) * k + y, ((r * k + y) * k + x)[off]]
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)  # noqa: E731
    return ReferenceModel(levels, n_codes, _Counts(cat(ends)), _Counts(cat(pairs)), _Counts(cat(rel_pairs)), len(edges))


def lexicographic_tie_counts(parts: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per query: negatives strictly above the positive (column 0) in lexicographic order of `parts`
    (each (Q, C), most significant first), and negatives equal to it in every part. Each (Q,) int64."""
    greater = np.zeros(parts[0][:, 1:].shape, dtype=bool)  # (Q, C-1)
    equal = np.ones_like(greater)
    for p in parts:
        pos, neg = p[:, :1], p[:, 1:]
        greater |= equal & (neg > pos)
        equal &= neg == pos
    return greater.sum(axis=1).astype(np.int64), equal.sum(axis=1).astype(np.int64)


def reference_outcomes(model: ReferenceModel, queries: RetrievalSet, n_items: int) -> dict[str, QueryOutcomes]:
    """Each scorer's expected per-query Hit@k / MRR under uniform tie-breaking, by key prefix."""
    pair = pair_clusters(queries.src, queries.candidates[:, 0], n_items)
    out = {}
    for scorer in SCORERS:
        if len(queries):
            parts = model.level_counts(scorer, queries.src, queries.relation, queries.candidates)
            values = tie_aware_outcomes(*lexicographic_tie_counts(parts))
        else:
            values = {m: np.zeros(0) for m in keys.RANK_METRICS}
        out[keys.reference_prefix(scorer)] = QueryOutcomes(pair=pair, values=values)
    return out


def reference_result(dataset: RelationalDataset, queries: RetrievalSet, model: ReferenceModel | None = None) -> EvalResult:
    """The reference scorers' metrics (keyed `{split}/ref_<scorer>_...`, with intervals) and outcomes on `queries`."""
    model = fit_reference(dataset) if model is None else model
    outcomes = reference_outcomes(model, queries, dataset.n_items)
    metrics: dict[str, float] = {}
    for prefix, o in outcomes.items():
        metrics.update(o.report(queries.split, prefix))
    return EvalResult(queries.split, metrics, outcomes)
