"""Ranking and classification metrics as pure functions (paper 4.3).

Conventions: retrieval scores are (Q, C) with the positive in column 0; ties are
counted against the positive (pessimistic), so an untrained model that scores every
candidate equally gets rank C, not rank 1.
"""

from __future__ import annotations

import numpy as np

HIT_KS: tuple[int, ...] = (1, 5, 10)


def positive_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of the positive (column 0) among the candidates of each query.

    scores: (Q, C) float. Returns (Q,) int64 = 1 + #{c >= 1 : scores[q, c] >= scores[q, 0]}.
    NaN scores are treated as the worst possible (ranked above the positive if the positive is NaN).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (Q, C>=2), got shape {scores.shape}")
    pos = scores[:, :1]  # (Q, 1)
    neg = scores[:, 1:]  # (Q, C-1)
    pos = np.where(np.isnan(pos), -np.inf, pos)
    neg = np.where(np.isnan(neg), -np.inf, neg)
    return 1 + (neg >= pos).sum(axis=1).astype(np.int64)


def hit_at_k(ranks: np.ndarray, k: int) -> float:
    """Fraction of queries whose positive ranks within the top k."""
    ranks = np.asarray(ranks)
    return float((ranks <= k).mean()) if ranks.size else float("nan")


def mean_reciprocal_rank(ranks: np.ndarray) -> float:
    ranks = np.asarray(ranks, dtype=np.float64)
    return float((1.0 / ranks).mean()) if ranks.size else float("nan")


def retrieval_metrics(scores: np.ndarray, ks: tuple[int, ...] = HIT_KS) -> dict[str, float]:
    """{"hit@1": ., "hit@5": ., "hit@10": ., "mrr": ., "n_queries": Q} for (Q, C) scores."""
    ranks = positive_ranks(scores)
    out = {f"hit@{k}": hit_at_k(ranks, k) for k in ks}
    out["mrr"] = mean_reciprocal_rank(ranks)
    out["n_queries"] = float(len(ranks))
    return out


def topk_accuracy(scores: np.ndarray, true: np.ndarray, k: int) -> float:
    """Fraction of rows whose top-k scored classes contain at least one true class.

    scores: (P, R) float; true: (P, R) bool (a pair may carry several relations).
    Ties at the k-th place are broken by class index (stable sort), so results are deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    true = np.asarray(true, dtype=bool)
    if scores.shape != true.shape:
        raise ValueError(f"scores {scores.shape} and true {true.shape} differ in shape")
    if not len(scores):
        return float("nan")
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # (P, k)
    hits = np.take_along_axis(true, order, axis=1).any(axis=1)
    return float(hits.mean())


def binary_accuracy(pred: np.ndarray, label: np.ndarray) -> float:
    pred = np.asarray(pred).astype(np.int64)
    label = np.asarray(label).astype(np.int64)
    return float((pred == label).mean()) if label.size else float("nan")
