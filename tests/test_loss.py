"""The RCML loss (eq. 1-2) and the plain CLIP loss on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from rcml_core.errors import ConfigError
from rcml_core.loss import LossConfig, clip_loss, info_nce, rcml_loss
from rcml_core.model.outputs import PairSimilarities

TAU = 0.5


def _cos(exps) -> torch.Tensor:
    """Cosines s with exp(s / TAU) = the given numbers, so the softmax terms read as plain fractions."""
    return TAU * torch.log(torch.tensor(exps, dtype=torch.float64))


# exp(s / tau) of the 3 x 3 case; positives on the diagonal.
EXPS_3X3 = [[4, 2, 2],
            [3, 3, 2],
            [1, 1, 6]]


def test_info_nce_on_a_hand_computed_3x3_case() -> None:
    logits = _cos(EXPS_3X3) / TAU
    loss = info_nce(logits, torch.ones(3, 3, dtype=torch.bool))
    # row 0: -log 4/(4+2+2) = log 2 ; row 1: -log 3/(3+3+2) = log 8/3 ; row 2: -log 6/(1+1+6) = log 4/3
    assert loss.tolist() == pytest.approx([math.log(2), math.log(8 / 3), math.log(4 / 3)])


def test_info_nce_positive_counts_even_when_marked_invalid_and_invalid_columns_leave_the_denominator() -> None:
    logits = _cos(EXPS_3X3) / TAU
    valid = torch.tensor([[False, True, True], [False, True, True], [True, True, True]])
    loss = info_nce(logits, valid)
    # row 0: positive kept although valid[0, 0] is False -> log 2 ; row 1: column 0 out -> -log 3/(3+2) = log 5/3
    assert loss.tolist() == pytest.approx([math.log(2), math.log(5 / 3), math.log(4 / 3)])


def test_rcml_loss_on_a_hand_computed_3x3_case_with_a_masked_false_negative_and_an_intra_row() -> None:
    s = _cos(EXPS_3X3)
    sims = PairSimilarities(ti=s, it=s.clone(), tt=s.clone(), ii=s.clone())
    negative_mask = torch.zeros(3, 3, dtype=torch.bool)
    negative_mask[1, 0] = True  # column 0 is related to row 1's anchor: a false negative
    intra = torch.tensor([True, False, False])
    out = rcml_loss(sims, negative_mask, intra, LossConfig(tau=TAU, lambda_intra=0.5))
    # per row: [log 2, log 5/3 (false negative removed), log 4/3]
    # L_ti = L_it = (log 2 + log 5/3 + log 4/3) / 3 = log(40/9) / 3 = 0.497218
    # L_tt = L_ii = mean over inter rows 1, 2 only = (log 5/3 + log 4/3) / 2 = log(20/9) / 2 = 0.399254
    # L = (L_ti + L_it) / 2 + 0.5 (L_tt + L_ii) = 0.497218 + 0.399254 = 0.896472
    assert out.ti.item() == pytest.approx(0.497218, abs=1e-6)
    assert out.it.item() == pytest.approx(0.497218, abs=1e-6)
    assert out.tt.item() == pytest.approx(0.399254, abs=1e-6)
    assert out.ii.item() == pytest.approx(0.399254, abs=1e-6)
    assert out.total.item() == pytest.approx(0.896472, abs=1e-6)
    assert out.to_dict() == pytest.approx(
        {"loss": 0.896472, "loss_ti": 0.497218, "loss_it": 0.497218, "loss_tt": 0.399254, "loss_ii": 0.399254},
        abs=1e-6)


def test_masking_a_false_negative_lowers_the_loss_by_removing_it_from_the_denominator() -> None:
    s = _cos(EXPS_3X3)
    sims = PairSimilarities(ti=s, it=s, tt=s, ii=s)
    intra = torch.zeros(3, dtype=torch.bool)
    none = torch.zeros(3, 3, dtype=torch.bool)
    masked = none.clone()
    masked[1, 0] = True
    config = LossConfig(tau=TAU, lambda_intra=0.0)
    drop = rcml_loss(sims, none, intra, config).ti - rcml_loss(sims, masked, intra, config).ti
    # only row 1 changes: log 8/3 -> log 5/3, averaged over 3 rows
    assert drop.item() == pytest.approx((math.log(8 / 3) - math.log(5 / 3)) / 3)


def test_intra_modal_terms_ignore_intra_rows_and_vanish_when_all_rows_are_intra() -> None:
    s = _cos(EXPS_3X3)
    tt = s.clone().requires_grad_()
    sims = PairSimilarities(ti=s, it=s, tt=tt, ii=s)
    out = rcml_loss(sims, torch.zeros(3, 3, dtype=torch.bool), torch.ones(3, dtype=torch.bool), LossConfig(tau=TAU))
    assert out.tt.item() == 0.0 and out.ii.item() == 0.0
    out.total.backward()
    assert torch.all(tt.grad == 0)
    one_inter = rcml_loss(sims, torch.zeros(3, 3, dtype=torch.bool), torch.tensor([True, True, False]),
                          LossConfig(tau=TAU))
    assert one_inter.tt.item() == pytest.approx(math.log(4 / 3))  # row 2 alone


def test_relation_negatives_join_the_denominator_of_inter_rows_only() -> None:
    s = _cos([[2, 1], [1, 2]])
    swap = _cos([[3], [5]])  # same pair under another relation
    sims, swaps = PairSimilarities(s, s, s, s), PairSimilarities(swap, swap, swap, swap)
    config = LossConfig(tau=TAU, lambda_intra=0.0, relation_negatives=True)
    no_neg = torch.zeros(2, 2, dtype=torch.bool)
    exclude = torch.tensor([[False], [True]])  # row 1's pair also carries that relation: not a negative
    inter = rcml_loss(sims, no_neg, torch.tensor([False, False]), config, swap=swaps, swap_exclude=exclude)
    # row 0: -log 2/(2+1+3) = log 3 ; row 1: swap excluded -> -log 2/(1+2) = log 3/2
    assert inter.ti.item() == pytest.approx((math.log(3) + math.log(3 / 2)) / 2)
    intra_row0 = rcml_loss(sims, no_neg, torch.tensor([True, False]), config, swap=swaps, swap_exclude=exclude)
    assert intra_row0.ti.item() == pytest.approx(math.log(3 / 2))  # an intra row gets no relation negatives
    with pytest.raises(ValueError, match="exactly when config.relation_negatives"):
        rcml_loss(sims, no_neg, torch.tensor([False, False]), config)


def test_clip_loss_is_the_symmetric_info_nce_of_unit_embeddings() -> None:
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    i = torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)
    # logits t i^T / 0.5 = [[2, 1.2], [0, 1.6]]; columns -> i t^T / 0.5 = [[2, 0], [1.2, 1.6]]
    rows_t = [math.log(1 + math.exp(1.2 - 2)), math.log(1 + math.exp(0 - 1.6))]
    rows_i = [math.log(1 + math.exp(0 - 2)), math.log(1 + math.exp(1.2 - 1.6))]
    expected = (sum(rows_t) / 2 + sum(rows_i) / 2) / 2
    assert clip_loss(t, i, tau=0.5).item() == pytest.approx(expected)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tau": 0.0}, r"loss.tau must be in \(0, 10\]"),
        ({"tau": -1}, r"loss.tau must be in \(0, 10\]"),
        ({"lambda_intra": -0.1}, r"loss.lambda_intra must be in \[0, 100\]"),
        ({"lambda_intra": float("nan")}, r"loss.lambda_intra must be a number in \[0, 100\], got nan"),
        ({"relation_negatives": 1}, "loss.relation_negatives must be true or false"),
    ],
)
def test_loss_config_rejects_bad_values_naming_the_field(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        LossConfig(**overrides)
