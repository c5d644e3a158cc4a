"""Ranking and classification metrics as pure functions (paper 4.3).

Retrieval scores are (Q, C) with the positive in column 0. Two tie rules, one per kind of scorer
(docs/evaluation.md, "Ties"):

- models (float similarities, ties are rare): ties count against the positive (pessimistic), so an
  untrained model that scores every candidate equally gets rank C, not rank 1 (`positive_ranks`);
- model-free reference scorers (integer counts, ties are the rule): the positive's rank is taken
  under uniform random tie-breaking, and Hit@k and the reciprocal rank are their exact expectations
  (`expected_hit_at_k`, `expected_reciprocal_rank`). Counting those ties against the positive would
  make the floor artificially low.
"""

from __future__ import annotations

import numpy as np

from rcml_core.eval.keys import HIT_KS, MRR, hit_name


def tie_counts(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: how many negatives score strictly above the positive, and how many tie with it.

    scores: (Q, C) float, positive in column 0. Returns (n_greater (Q,), n_tied (Q,)) int64.
    NaN scores are treated as the worst possible (-inf): a NaN positive ties with NaN negatives and
    ranks below every finite one.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError(f"scores must be (Q, C>=2), got shape {scores.shape}")
    scores = np.where(np.isnan(scores), -np.inf, scores)
    pos = scores[:, :1]  # (Q, 1)
    neg = scores[:, 1:]  # (Q, C-1)
    return (neg > pos).sum(axis=1).astype(np.int64), (neg == pos).sum(axis=1).astype(np.int64)


def positive_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of the positive (column 0), ties counted against it.

    scores: (Q, C) float. Returns (Q,) int64 = 1 + #{c >= 1 : scores[q, c] >= scores[q, 0]}.
    """
    greater, tied = tie_counts(scores)
    return 1 + greater + tied


def expected_hit_at_k(n_greater: np.ndarray, n_tied: np.ndarray, k: int) -> np.ndarray:
    """(Q,) P(rank <= k) when the positive's place among its n_tied ties is uniform.

    The positive's rank is n_greater + 1 + U with U uniform on {0, ..., n_tied}, so
    P(rank <= k) = clip((k - n_greater) / (n_tied + 1), 0, 1).
    """
    g = np.asarray(n_greater, dtype=np.float64)
    t = np.asarray(n_tied, dtype=np.float64)
    return np.clip((k - g) / (t + 1.0), 0.0, 1.0)


def expected_reciprocal_rank(n_greater: np.ndarray, n_tied: np.ndarray) -> np.ndarray:
    """(Q,) E[1 / rank] under the same uniform tie-breaking: mean of 1/(g+1), ..., 1/(g+t+1),
    i.e. (H(g + t + 1) - H(g)) / (t + 1) with H the harmonic numbers."""
    g = np.asarray(n_greater, dtype=np.int64)
    t = np.asarray(n_tied, dtype=np.int64)
    if g.size == 0:
        return np.zeros(0)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, int((g + t).max()) + 2))])  # H(0..max+1)
    return (harmonic[g + t + 1] - harmonic[g]) / (t + 1.0)


def rank_outcomes(ranks: np.ndarray, ks: tuple[int, ...] = HIT_KS) -> dict[str, np.ndarray]:
    """Per-query outcomes of known ranks: {"hit@k": (Q,) 0/1, ..., "mrr": (Q,) 1/rank}."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {hit_name(k): (ranks <= k).astype(np.float64) for k in ks}
    out[MRR] = 1.0 / ranks
    return out


def tie_aware_outcomes(n_greater: np.ndarray, n_tied: np.ndarray, ks: tuple[int, ...] = HIT_KS) -> dict[str, np.ndarray]:
    """Per-query expected outcomes under uniform random tie-breaking: {"hit@k": (Q,), ..., "mrr": (Q,)}."""
    out = {hit_name(k): expected_hit_at_k(n_greater, n_tied, k) for k in ks}
    out[MRR] = expected_reciprocal_rank(n_greater, n_tied)
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
