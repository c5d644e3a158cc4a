"""Batch conditioning strategies: table and gram give the same pair similarities; auto picks the cheaper."""

from __future__ import annotations

import pytest
import torch
from rcml_testkit import RELATIONS, TITLES, pixels

from rcml_core.model.attention import unit
from rcml_core.model.conditioning import (
    relation_kinds,
    relation_table,
    stacked_pair_similarities,
    stacked_relation_tables,
    table_is_cheaper,
)
from rcml_core.model.rcml import RCMLConfig, RCMLModel

ROWS = [(0, 0, 0), (0, 2, 1), (1, 4, 2), (3, 3, 0), (5, 1, 2), (2, 3, 1), (4, 0, 1)]


def _features(backbone, model):
    items, rels = backbone.tokenize(TITLES), backbone.tokenize(RELATIONS)
    feats = model.encode_items(items.input_ids, items.attention_mask, pixels(backbone, len(TITLES)))
    return feats, model.encode_relations(rels.input_ids, rels.attention_mask)


@pytest.mark.parametrize("mode", ["prob", "logit"])
@pytest.mark.parametrize("beta", [0.0, 0.6, 1.0])
def test_table_and_gram_strategies_give_the_same_pair_similarities(backbone, mode, beta) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=beta, summary_mix=mode))
    feats, rels = _features(backbone, model)
    src, dst, rel = (torch.tensor(c) for c in zip(*ROWS))
    args = (feats, rels, src, dst, rel, rel == 0)
    table, gram = model.pair_similarities(*args, strategy="table"), model.pair_similarities(*args, strategy="gram")
    for name, value in vars(table).items():
        assert value.shape == (len(ROWS), len(ROWS))
        assert torch.allclose(value, vars(gram)[name], atol=1e-5), name


def test_table_and_gram_strategies_give_the_same_gradients(backbone) -> None:
    grads = []
    for strategy in ("table", "gram"):
        model = RCMLModel(backbone, RCMLConfig(beta=0.6))
        feats, rels = _features(backbone, model)
        src, dst, rel = (torch.tensor(c) for c in zip(*ROWS))
        sims = model.pair_similarities(feats, rels, src, dst, rel, rel == 0, strategy=strategy)
        (sims.ti.sum() + 2 * sims.ii.sum() + 3 * sims.tt.sum() - sims.it.sum()).backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        model.zero_grad()
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-5, rtol=1e-4), name


def test_dense_and_grouped_table_readouts_give_the_same_similarities_and_gradients(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6))
    feats, rels = _features(backbone, model)
    src, dst, rel = (torch.tensor(c) for c in zip(*ROWS))
    kinds = relation_kinds(len(RELATIONS), rel, rel == 0)
    query, value_map = model.attention.query(rels), model.attention.value_map()
    results = []
    for readout in ("dense", "grouped"):
        z_text = relation_table(feats.text, query, value_map, kinds, 0.6, "prob").detach().requires_grad_()
        z_image = relation_table(feats.image, query, value_map, kinds, 0.6, "prob").detach().requires_grad_()
        tables = torch.stack([z_text, z_image]).transpose(1, 2)  # (2, U, R, d), item-major
        sims = stacked_pair_similarities(tables, src, dst, rel, readout=readout)
        (sims.ti.sum() + 2 * sims.it.sum() + 3 * sims.tt.sum() + 4 * sims.ii.sum()).backward()
        results.append((sims, z_text.grad, z_image.grad))
    (dense, gt_d, gi_d), (grouped, gt_g, gi_g) = results
    for name, value in vars(dense).items():
        assert torch.allclose(value, vars(grouped)[name], atol=1e-6), name
    assert torch.allclose(gt_d, gt_g, atol=1e-6) and torch.allclose(gi_d, gi_g, atol=1e-6)


def test_auto_strategy_picks_the_table_for_few_relations_and_gram_when_each_row_has_its_own() -> None:
    # B = 64 rows, U = 96 items, n_text + n_image = 16 + 17 tokens, d = 64
    assert table_is_cheaper(11, 96, 64, 33, 16 * 16 + 17 * 17, 64)
    assert not table_is_cheaper(64, 96, 64, 33, 16 * 16 + 17 * 17, 64)


def test_relation_table_matches_explicit_per_query_conditioning(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6))
    feats, rels = _features(backbone, model)
    kinds = torch.tensor([True, False, False])
    table = model.relation_table(feats, rels, kinds)
    assert table.text.shape == (3, len(TITLES), 64)
    for k in range(3):
        idx = torch.arange(len(TITLES))
        z = model.condition(feats, rels, idx, torch.full_like(idx, k), kinds[torch.full_like(idx, k)])
        assert torch.allclose(table.text[k], z.text, atol=1e-6)
        assert torch.allclose(table.image[k], z.image, atol=1e-6)


def test_a_relation_used_by_both_intra_and_inter_rows_is_rejected() -> None:
    rel = torch.tensor([0, 1, 1])
    assert relation_kinds(3, rel, torch.tensor([True, False, False])).tolist() == [True, False, False]
    with pytest.raises(ValueError, match=r"relations \[1\] are used by both intra and inter rows"):
        relation_kinds(3, rel, torch.tensor([True, True, False]))


@pytest.mark.parametrize("mode", ["prob", "logit"])
def test_stacked_tables_equal_each_modality_s_relation_table_item_major(backbone, mode) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6, summary_mix=mode))
    feats, rels = _features(backbone, model)
    kinds = torch.tensor([True, False, False])
    query, value_map = model.attention.query(rels), model.attention.value_map()
    stacked = stacked_relation_tables(feats.text, feats.image, query, value_map, kinds, 0.6, mode)
    assert stacked.shape == (2, len(TITLES), 3, 64) and stacked.is_contiguous()
    for x, f in enumerate((feats.text, feats.image)):
        per_modality = relation_table(f, query, value_map, kinds, 0.6, mode)  # (R, U, d)
        assert torch.allclose(stacked[x], per_modality.transpose(0, 1), atol=1e-6)


def test_stacked_readout_reads_each_row_s_relation_for_anchor_and_candidates(backbone) -> None:
    g = torch.Generator().manual_seed(0)
    tables = unit(torch.randn(2, 6, 3, 8, generator=g))  # (2, U, R, d)
    src, dst, rel = (torch.tensor(c) for c in zip(*ROWS))
    for readout in ("dense", "grouped"):
        sims = stacked_pair_similarities(tables, src, dst, rel, readout)
        for name, (x, y) in {"ti": (0, 1), "it": (1, 0), "tt": (0, 0), "ii": (1, 1)}.items():
            expected = torch.stack([tables[y, dst, rel[r]] @ tables[x, src[r], rel[r]] for r in range(len(ROWS))])
            assert torch.allclose(getattr(sims, name), expected, atol=1e-6), (readout, name)


def test_unit_equals_f_normalize_and_floors_the_norm() -> None:
    x = torch.randn(4, 5, 16, dtype=torch.float64)
    assert torch.allclose(unit(x), torch.nn.functional.normalize(x, dim=-1, eps=1e-8), atol=1e-12)
    zero = torch.zeros(2, 16, requires_grad=True)
    out = unit(zero)
    out.sum().backward()
    assert torch.equal(out, torch.zeros(2, 16)) and torch.isfinite(zero.grad).all()
