"""Relation-guided attention, eq. 4-6: scores, mixing modes, pooling and the Gram-form cosine."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rcml_core.model.attention import (
    attention_weights,
    conditioned_cosine,
    paired_attention_weights,
    paired_pool,
    paired_relation_scores,
    pool,
    relation_scores,
)


def _inputs(r: int = 3, n_items: int = 4, n: int = 5, d: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    query = torch.randn(r, d, generator=g, dtype=torch.float64)
    tokens = torch.randn(n_items, n, d, generator=g, dtype=torch.float64)
    lengths = torch.tensor([n, 2, 3, 1])[:n_items]
    mask = torch.arange(n)[None, :] < lengths[:, None]  # (N, n) with padding
    summary = lengths - 1  # EOT-like: last real token
    return query, tokens, mask, summary


def test_relation_scores_are_scaled_dots_with_minus_inf_at_padding() -> None:
    query = torch.tensor([[1.0, 2.0, 0.0, 0.0]])  # (1, d=4)
    keys = torch.tensor([[[1.0, 1.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [5.0, 5.0, 5.0, 5.0]]])  # (1, 3, 4)
    mask = torch.tensor([[True, True, False]])
    scores = relation_scores(query, keys, mask)
    # (1*1 + 2*1) / sqrt(4) = 1.5 ; (2*3) / 2 = 3.0 ; padding -> -inf
    assert scores.tolist() == [[[1.5, 3.0, -math.inf]]]


def test_prob_mix_is_softmax_on_inter_rows_and_adds_the_summary_one_hot_on_intra_rows() -> None:
    scores = torch.tensor([[[0.0, math.log(3.0), -math.inf]], [[0.0, math.log(3.0), -math.inf]]])  # (R=2, N=1, 3)
    mask = torch.tensor([[True, True, False]])
    summary = torch.tensor([1])
    intra = torch.tensor([True, False])
    a = attention_weights(scores, mask, summary, beta=0.6, summary_mix="prob", intra=intra)
    # softmax = [1/4, 3/4, 0]; intra: 0.4 * softmax + 0.6 * [0, 1, 0] = [0.1, 0.9, 0]
    assert torch.allclose(a[0, 0], torch.tensor([0.1, 0.9, 0.0]))
    assert torch.allclose(a[1, 0], torch.tensor([0.25, 0.75, 0.0]))


def test_prob_mix_at_beta_one_is_exactly_the_summary_one_hot_on_intra_rows() -> None:
    query, tokens, mask, summary = _inputs()
    scores = relation_scores(query, tokens, mask)
    a = attention_weights(scores, mask, summary, beta=1.0, summary_mix="prob", intra=torch.tensor([True] * 3))
    assert torch.equal(a, F.one_hot(summary, 5).to(a.dtype).expand(3, -1, -1))


def test_logit_mode_is_eq5_literally() -> None:
    query, tokens, mask, summary = _inputs()
    beta = 0.3
    intra = torch.tensor([True, False, True])
    scores = relation_scores(query, tokens, mask)
    a = attention_weights(scores, mask, summary, beta=beta, summary_mix="logit", intra=intra)
    for r in range(3):
        for k in range(4):
            n_real = int(mask[k].sum())
            q = scores[r, k, :n_real]
            b = F.one_hot(summary[k], n_real).double() * float(intra[r])
            expected = torch.softmax((1 - beta) * q + beta * b, dim=-1)  # eq. 5 on the real tokens
            assert torch.allclose(a[r, k, :n_real], expected)
            assert torch.all(a[r, k, n_real:] == 0)


def test_logit_mode_at_beta_one_is_near_uniform_not_clip_pooling() -> None:
    # Why "prob" is the default (docs/method.md): softmax(1 * onehot) over 77 tokens puts e / (e + 76) on the summary.
    scores = torch.zeros(1, 1, 77)
    a = attention_weights(scores, torch.ones(1, 77, dtype=torch.bool), torch.tensor([0]), 1.0, "logit",
                          torch.tensor([True]))
    assert a[0, 0, 0].item() == pytest.approx(math.e / (math.e + 76))


@pytest.mark.parametrize("mode", ["prob", "logit"])
def test_attention_rows_sum_to_one_and_padding_gets_zero_weight(mode) -> None:
    query, tokens, mask, summary = _inputs()
    intra = torch.tensor([True, False, True])
    a = attention_weights(relation_scores(query, tokens, mask), mask, summary, 0.5, mode, intra)
    assert torch.allclose(a.sum(-1), torch.ones(3, 4, dtype=a.dtype))
    assert torch.all(a.masked_select(~mask.expand(3, -1, -1)) == 0)


def test_attention_rejects_beta_outside_unit_interval_and_unknown_mode() -> None:
    query, tokens, mask, summary = _inputs()
    scores = relation_scores(query, tokens, mask)
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\]"):
        attention_weights(scores, mask, summary, 1.5, "prob", torch.tensor([True] * 3))
    with pytest.raises(ValueError, match="summary_mix must be one of"):
        attention_weights(scores, mask, summary, 0.5, "mean", torch.tensor([True] * 3))


@pytest.mark.parametrize("mode", ["prob", "logit"])
def test_paired_functions_equal_the_diagonal_of_the_table_functions(mode) -> None:
    query, tokens, mask, summary = _inputs(r=4)
    intra = torch.tensor([True, False, True, False])
    table = attention_weights(relation_scores(query, tokens, mask), mask, summary, 0.4, mode, intra)  # (4, 4, n)
    pooled = pool(table, tokens)  # (4, 4, d)
    paired = paired_attention_weights(paired_relation_scores(query, tokens, mask), mask, summary, 0.4, mode, intra)
    idx = torch.arange(4)
    assert torch.allclose(paired, table[idx, idx])
    assert torch.allclose(paired_pool(paired, tokens), pooled[idx, idx])


def test_conditioned_cosine_equals_pool_normalise_dot_with_padding() -> None:
    query, tokens, mask, summary = _inputs()
    weights = attention_weights(relation_scores(query, tokens, mask), mask, summary, 0.6, "prob",
                                torch.tensor([True, False, False]))
    anchor = F.normalize(torch.randn(3, 6, dtype=torch.float64), dim=-1)
    explicit = (F.normalize(pool(weights, tokens), dim=-1) * anchor[:, None, :]).sum(-1)  # (R, N)
    assert torch.allclose(conditioned_cosine(anchor, weights, tokens), explicit, atol=1e-12)


def test_conditioned_cosine_gradients_equal_the_explicit_path() -> None:
    query, tokens, mask, summary = _inputs()
    inputs = [query.clone().requires_grad_(), tokens.clone().requires_grad_()]
    anchor = F.normalize(torch.randn(3, 6, dtype=torch.float64), dim=-1)
    grads = []
    for gram_form in (True, False):
        q, h = (x.detach().clone().requires_grad_() for x in inputs)
        intra = torch.tensor([True, False, True])
        w = attention_weights(relation_scores(q, h, mask), mask, summary, 0.3, "prob", intra)
        if gram_form:
            cos = conditioned_cosine(anchor, w, h)
        else:
            cos = (F.normalize(pool(w, h), dim=-1) * anchor[:, None, :]).sum(-1)
        (cos * torch.arange(12, dtype=cos.dtype).view(3, 4)).sum().backward()
        grads.append((q.grad, h.grad))
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-12)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-12)


def test_conditioned_cosine_is_finite_for_a_zero_pooled_feature() -> None:
    values = torch.zeros(1, 2, 3, requires_grad=True)
    weights = torch.tensor([[[0.5, 0.5]]])
    anchor = torch.tensor([[1.0, 0.0, 0.0]])
    cos = conditioned_cosine(anchor, weights, values)
    cos.sum().backward()
    assert cos.item() == 0.0 and torch.isfinite(values.grad).all()
