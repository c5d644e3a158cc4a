"""Relation-guided attention (paper eq. 4-6) as pure functions of tensors.

Notation (row-major, tokens as rows): H (N, n, d) token features of N items; h_E (R, d) relation
embeddings; query = h_E W_Q^T (R, d); keys = H W_K^T (N, n, d); values V = H W_V^T W_o (N, n, d)
(eq. 4 with W_V, W_o folded into the values). For relation r and item k:

    q[r, k]  = query_r . keys[k]^T / sqrt(d)                                   eq. 6    (n,)
    A[r, k]  = mix(q[r, k], onehot(summary_k), beta)                           eq. 5    (n,)
    z[r, k]  = L2norm(A[r, k] V[k])                                            eq. 4    (d,)

"prob" mix (default): A = (1 - beta) softmax(q) + beta onehot(summary) when r's row is an
intra-sample pair, softmax(q) otherwise, so beta = 1 on intra rows is exactly CLIP's pooling.
"logit" mix: eq. 5 literally, A = softmax((1 - beta) q + beta B) with B = onehot(summary) on intra
rows and 0 on inter rows.

Two layouts: "table" functions take every (relation, item) combination, (R, N, n); "paired" ones take
one relation per item, (Q, n). Both share the same mixing code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SUMMARY_MIXES: tuple[str, ...] = ("prob", "logit")
COSINE_EPS = 1e-8


def _check_mix(beta: float, summary_mix: str) -> None:
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    if summary_mix not in SUMMARY_MIXES:
        raise ValueError(f"summary_mix must be one of {SUMMARY_MIXES}, got {summary_mix!r}")


def relation_scores(query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
    """Eq. 6 for every relation x item: query (R, d), keys (N, n, d), mask (N, n) bool -> (R, N, n).

    scores[r, k, t] = query[r] . keys[k, t] / sqrt(d); -inf at padding (mask False).
    """
    r, (k, t, d) = query.shape[0], keys.shape
    scores = ((query / math.sqrt(d)) @ keys.reshape(k * t, d).T).view(r, k, t)  # (R, N, n); scale the small side
    return scores + padding_bias(mask, scores.dtype)  # (N, n) broadcasts over R


def padding_bias(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """0 at real tokens, -inf at padding: mask (..., n) bool -> (..., n). Added to scores, it masks them
    like masked_fill, and its backward is the identity (no grad-sized masking pass)."""
    return torch.where(mask, 0.0, float("-inf")).to(dtype)


def paired_relation_scores(query: Tensor, keys: Tensor, mask: Tensor) -> Tensor:
    """Eq. 6 with one relation per item: query (Q, d), keys (Q, n, d), mask (Q, n) -> (Q, n)."""
    scores = torch.einsum("qd,qtd->qt", query, keys) / math.sqrt(query.shape[-1])  # (Q, n)
    return scores.masked_fill(~mask, float("-inf"))


def _one_hot(index: Tensor, n: int, dtype: torch.dtype) -> Tensor:
    """(K,) long -> (K, n) one-hot rows (F.one_hot validates with two reductions; this is one comparison)."""
    return (torch.arange(n, device=index.device) == index[:, None]).to(dtype)


def _mix(scores: Tensor, mask: Tensor, summary: Tensor, intra: Tensor, beta: float, summary_mix: str) -> Tensor:
    """Eq. 5 on broadcastable tensors: scores (..., n) with -inf at padding, mask (..., n) bool,
    summary (..., n) one-hot float, intra (..., 1) bool -> attention weights (..., n), rows sum to 1."""
    if summary_mix == "prob":
        attn = torch.softmax(scores, dim=-1)  # (..., n); padding gets exactly 0
        if beta == 0.0:
            return attn
        share = beta * intra.to(attn.dtype)  # (..., 1): beta on intra rows, 0 on inter rows (attn exactly)
        return attn * (1.0 - share) + share * summary  # (..., n); beta = 1 gives the one-hot exactly
    # "logit": softmax((1 - beta) q + beta B); finite scores first so that 0 * (-inf) never appears
    bias = beta * summary * intra  # (..., n): B is zero on inter rows
    logits = (1.0 - beta) * scores.masked_fill(~mask, 0.0) + bias
    return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)


def attention_weights(
    scores: Tensor, mask: Tensor, summary_index: Tensor, beta: float, summary_mix: str, intra: Tensor
) -> Tensor:
    """Eq. 5 for every relation x item: scores (R, N, n), mask (N, n), summary_index (N,), intra (R,) -> (R, N, n).

    intra[r]: row r's relation is the intra-sample one; the summary term then applies to every item
    conditioned under row r (anchor and candidates alike).
    """
    _check_mix(beta, summary_mix)
    summary = _one_hot(summary_index, scores.shape[-1], scores.dtype)  # (N, n)
    return _mix(scores, mask[None], summary[None], intra[:, None, None], beta, summary_mix)  # (R, N, n)


def paired_attention_weights(
    scores: Tensor, mask: Tensor, summary_index: Tensor, beta: float, summary_mix: str, intra: Tensor
) -> Tensor:
    """Eq. 5 with one relation per item: scores (Q, n), mask (Q, n), summary_index (Q,), intra (Q,) -> (Q, n)."""
    _check_mix(beta, summary_mix)
    summary = _one_hot(summary_index, scores.shape[-1], scores.dtype)  # (Q, n)
    return _mix(scores, mask, summary, intra[:, None], beta, summary_mix)


def pool(weights: Tensor, values: Tensor) -> Tensor:
    """A V before normalisation (eq. 4), every relation x item: (R, N, n) x (N, n, d) -> (R, N, d).

    Computed item-major, one (R, n) x (n, d) product per item, and returned as a transposed view:
    callers that need rows contiguous copy once at the end (cheaper than einsum's copies in and out).
    """
    return torch.bmm(weights.transpose(0, 1), values).transpose(0, 1)  # (N, R, d) in memory


def paired_pool(weights: Tensor, values: Tensor) -> Tensor:
    """A V before normalisation (eq. 4), one relation per item: (Q, n) x (Q, n, d) -> (Q, d)."""
    return torch.einsum("qt,qtd->qd", weights, values)


def unit(x: Tensor, eps: float = COSINE_EPS) -> Tensor:
    """x / max(||x||, eps) along the last dim (F.normalize's values up to rounding): (..., d) -> (..., d).

    Computed as x * rsqrt(max(||x||^2, eps^2)), so that the backward is broadcast multiplies by a (..., 1)
    factor; F.normalize's backward divides by the expanded norm, and on the (2, U, R, d) tables of a step
    those divisions were a fifth of the tables' time (profiled on CPU).
    """
    return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True).clamp_min(eps * eps))


def gram(values: Tensor) -> Tensor:
    """G[k] = V[k] V[k]^T: (N, n, d) -> (N, n, n)."""
    return values @ values.transpose(-1, -2)


def conditioned_dot(anchor: Tensor, weights: Tensor, values: Tensor) -> Tensor:
    """<anchor_r, A[r, k] V[k]> without forming A V: (R, d), (R, N, n), (N, n, d) -> (R, N).

    = sum_t A[r, k, t] <anchor_r, V[k, t]>; the (R, N, n) projections replace an (R, N, d) tensor.
    """
    proj = torch.einsum("rd,ktd->rkt", anchor, values)  # (R, N, n)
    return (weights * proj).sum(dim=-1)  # (R, N)


def conditioned_sq_norm(weights: Tensor, gram_matrices: Tensor) -> Tensor:
    """||A[r, k] V[k]||^2 = A[r, k] G[k] A[r, k]^T: (R, N, n), G (N, n, n) -> (R, N)."""
    weighted = torch.einsum("rks,kts->rkt", weights, gram_matrices)  # (R, N, n) = A G (G symmetric)
    return (weights * weighted).sum(dim=-1)  # (R, N)


def cosine_from_parts(dot: Tensor, sq_norm: Tensor, eps: float = COSINE_EPS) -> Tensor:
    """dot / max(||x||, eps) for a unit anchor; sq_norm is ||x||^2 (any shape, broadcast)."""
    return dot * torch.rsqrt(sq_norm.clamp_min(eps * eps))


def conditioned_cosine(anchor: Tensor, weights: Tensor, values: Tensor, eps: float = COSINE_EPS) -> Tensor:
    """cos(anchor_r, z[r, k]) for unit anchors, without materialising the (R, N, d) pooled features.

    anchor (R, d) unit vectors; weights (R, N, n) attention of item k under row r (0 at padding);
    values (N, n, d) -> (R, N). Numerator sum_t A[r,k,t] <anchor_r, V[k,t]>, squared norm A G A^T with
    G[k] = V[k] V[k]^T; the norm is floored at eps. Differentiable everywhere.
    """
    return cosine_from_parts(conditioned_dot(anchor, weights, values), conditioned_sq_norm(weights, gram(values)), eps)
