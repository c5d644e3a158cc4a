"""The three evaluation tasks of paper 4.3, over any `Embedder`.

1. Relation-guided retrieval: A + relation e -> rank B among 21 candidates (Hit@1/5/10, MRR).
2. Relation-type prediction: score every inter relation for a held-out pair (Top-1/Top-3).
3. Relation validity: a logistic-regression probe on frozen features
   [text_A, image_A, text_B, image_B, relation] fitted on train instances (accuracy).

An item is conditioned once per relation it is asked under, never once per query; retrieval asks
for all its (item, relation) pairs in one batched call.
"""

from __future__ import annotations

import numpy as np
import torch

from rcml_core.data.schema import RelationTypeSet, RetrievalSet, ValiditySet
from rcml_core.eval.embedders import Embedder
from rcml_core.eval import keys
from rcml_core.eval.keys import outcome_name
from rcml_core.eval.metrics import (
    binary_accuracy,
    positive_ranks,
    rank_outcomes,
    topk_accuracy,
)
from rcml_core.eval.results import QueryOutcomes, pair_clusters
from rcml_core.eval.similarity import (
    SIMILARITIES,
    candidate_scores,
    pair_scores,
    relation_projection_scores,
)


def _gather(items: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Positions of `items` (any shape) in the sorted unique array `pool`."""
    return np.searchsorted(pool, items)


def retrieval_scores(embedder: Embedder, queries: RetrievalSet, training_free: bool = False) -> dict[str, np.ndarray]:
    """{sim: (Q, C) scores} with the positive in column 0.

    Every distinct (item, relation) pair the queries need (the query item and its candidates, under
    the query's relation) is embedded once, in one `embed_pairs` call, however many relation types
    the queries span. training_free: score (zA . zr)(zB . zr) with the embedder's (plain)
    embeddings instead of zA . zB.
    """
    q_total, c = queries.candidates.shape
    if q_total == 0:
        return {s: np.zeros((0, c), dtype=np.float64) for s in SIMILARITIES}
    rel = np.asarray(queries.relation, dtype=np.int64)  # (Q,)
    stride = int(max(queries.src.max(), queries.candidates.max())) + 1
    src_key = rel * stride + queries.src  # (Q,): one key per (relation, item)
    cand_key = rel[:, None] * stride + queries.candidates  # (Q, C)
    keys = np.unique(np.concatenate([src_key, cand_key.ravel()]))  # (P,) sorted
    text, image = embedder.embed_pairs(keys % stride, keys // stride)  # (P, d) each
    si = torch.as_tensor(_gather(src_key, keys), device=text.device)  # (Q,)
    ci = torch.as_tensor(_gather(cand_key, keys), device=text.device)  # (Q, C)
    a_t, a_i = text[si], image[si]  # (Q, d)
    c_t, c_i = text[ci], image[ci]  # (Q, C, d)
    if training_free:
        used = np.unique(rel)
        vectors = torch.stack([embedder.relation_vector(int(r)).to(text.device) for r in used])  # (R', d)
        r = vectors[torch.as_tensor(_gather(rel, used), device=text.device)]  # (Q, d)
        scores = relation_projection_scores(a_t, a_i, c_t, c_i, r)
    else:
        scores = candidate_scores(a_t, a_i, c_t, c_i)
    return {s: v.double().cpu().numpy() for s, v in scores.items()}


def retrieval_outcomes(scores: dict[str, np.ndarray], queries: RetrievalSet, n_items: int) -> QueryOutcomes:
    """Per-query Hit@k and reciprocal rank of each similarity type (ties counted against the positive),
    named `hit@5_tt`, ..., `mrr_avg`, with each query's cluster (its unordered pair {A, B})."""
    values: dict[str, np.ndarray] = {}
    for sim, s in scores.items():
        for metric, v in rank_outcomes(positive_ranks(s)).items():
            values[outcome_name(metric, sim)] = v
    return QueryOutcomes(pair=pair_clusters(queries.src, queries.candidates[:, 0], n_items), values=values)


def relation_type_scores(embedder: Embedder, pairs: RelationTypeSet, relation_ids: np.ndarray) -> dict[str, np.ndarray]:
    """{sim: (P, R')} score of each pair under each candidate relation (both sides conditioned on it)."""
    pool = np.unique(np.concatenate([pairs.src, pairs.dst]))
    si, di = _gather(pairs.src, pool), _gather(pairs.dst, pool)
    out = {s: np.zeros((len(pairs), len(relation_ids)), dtype=np.float64) for s in SIMILARITIES}
    for j, rel in enumerate(relation_ids):
        text, image = embedder.embed(pool, int(rel))
        a = torch.as_tensor(si, device=text.device)
        b = torch.as_tensor(di, device=text.device)
        for s, v in pair_scores(text[a], image[a], text[b], image[b]).items():
            out[s][:, j] = v.double().cpu().numpy()
    return out


def relation_type_report(scores: dict[str, np.ndarray], true: np.ndarray, prefix: str) -> dict[str, float]:
    n_rel = true.shape[1]
    out = {f"{prefix}{keys.RTYPE_TOP1}_{s}": topk_accuracy(v, true, 1) for s, v in scores.items()}
    out.update({f"{prefix}{keys.RTYPE_TOP3}_{s}": topk_accuracy(v, true, 3) for s, v in scores.items()})
    # Chance level of Top-3 with the pairs' actual number of true relations.
    k_true = true.sum(axis=1)
    chance = 1.0 - np.array([_miss_probability(n_rel, int(k), 3) for k in k_true])
    out[f"{prefix}{keys.RTYPE_CHANCE_TOP3}"] = float(chance.mean()) if len(chance) else float("nan")
    out[f"{prefix}{keys.N_RTYPE_PAIRS}"] = float(len(true))
    return out


def _miss_probability(n: int, k_true: int, k: int) -> float:
    """P(no true class among k drawn without replacement from n with k_true true ones)."""
    p = 1.0
    for i in range(min(k, n)):
        p *= max(0, n - k_true - i) / (n - i)
    return p


def validity_features(embedder: Embedder, instances: ValiditySet) -> np.ndarray:
    """(V, 5d): [text_A, image_A, text_B, image_B, relation] per instance, under its relation."""
    pool = np.unique(np.concatenate([instances.src, instances.dst]))
    parts: np.ndarray | None = None
    for rel in np.unique(instances.relation):
        rows = np.flatnonzero(instances.relation == rel)
        text, image = embedder.embed(pool, int(rel))
        a = torch.as_tensor(_gather(instances.src[rows], pool), device=text.device)
        b = torch.as_tensor(_gather(instances.dst[rows], pool), device=text.device)
        r = embedder.relation_vector(int(rel)).to(text.device).expand(len(rows), -1)
        feats = torch.cat([text[a], image[a], text[b], image[b], r], dim=1).double().cpu().numpy()
        if parts is None:
            parts = np.zeros((len(instances), feats.shape[1]))
        parts[rows] = feats
    return parts if parts is not None else np.zeros((0, 0))


def validity_report(train_embedder: Embedder, train: ValiditySet, eval_embedder: Embedder, test: ValiditySet,
                    prefix: str, c: float = 1.0, seed: int = 0) -> dict[str, float]:
    """Fit the linear probe on `train` instances, report accuracy on `test` instances."""
    from sklearn.linear_model import LogisticRegression  # imported on use: ~1 s that most trials never need
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x_train, x_test = validity_features(train_embedder, train), validity_features(eval_embedder, test)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    probe.fit(x_train, train.label)
    return {
        f"{prefix}{keys.VALIDITY_ACC}": binary_accuracy(probe.predict(x_test), test.label),
        f"{prefix}{keys.N_VALIDITY}": float(len(test)),
    }
