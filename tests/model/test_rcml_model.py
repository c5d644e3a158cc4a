"""RCMLModel: CLIP as a special case, conditioning paths agree, cost and trainable parameters."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from rcml_testkit import RELATIONS, TITLES, legacy_clip_folder, pair_batch, pixels

from rcml_core.errors import ConfigError
from rcml_core.loss import LossConfig, clip_loss, rcml_loss
from rcml_core.model.backbone import BackboneConfig, build_backbone
from rcml_core.model.rcml import RCMLConfig, RCMLModel

INTRA_ROWS = [(i, i, 0) for i in range(len(TITLES))]
MIXED_ROWS = [(0, 0, 0), (0, 2, 1), (1, 4, 2), (3, 3, 0), (5, 1, 2), (2, 3, 1)]


def _encode(model: RCMLModel, titles=TITLES, relations=RELATIONS):
    items = model.backbone.tokenize(titles)
    px = pixels(model.backbone, len(titles))
    rels = model.backbone.tokenize(relations)
    return (items, px, model.encode_items(items.input_ids, items.attention_mask, px),
            model.encode_relations(rels.input_ids, rels.attention_mask))


def _clip_reference(model: RCMLModel, items, px):
    return model.clip(input_ids=items.input_ids, attention_mask=items.attention_mask, pixel_values=px)


@pytest.mark.parametrize("relation", [0, 1])
def test_beta1_prob_condition_equals_clip_text_and_image_embeds(backbone, relation) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=1.0, summary_mix="prob"))
    items, px, feats, rels = _encode(model)
    ref = _clip_reference(model, items, px)
    idx = torch.arange(len(TITLES))
    z = model.condition(feats, rels, idx, torch.full_like(idx, relation), torch.ones_like(idx, dtype=torch.bool))
    assert torch.allclose(z.text, ref.text_embeds, atol=1e-5)
    assert torch.allclose(z.image, ref.image_embeds, atol=1e-5)
    plain = model.clip_embeddings(feats)
    assert torch.allclose(plain.text, ref.text_embeds, atol=1e-5)
    assert torch.allclose(plain.image, ref.image_embeds, atol=1e-5)


@pytest.mark.parametrize("strategy", ["table", "gram"])
def test_beta1_prob_pooled_path_gives_clip_similarities_for_all_four_directions(backbone, strategy) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=1.0))
    items, px, feats, rels = _encode(model)
    ref = _clip_reference(model, items, px)
    t, i = ref.text_embeds, ref.image_embeds
    idx = torch.arange(len(TITLES))
    intra = torch.ones_like(idx, dtype=torch.bool)
    sims = model.pair_similarities(feats, rels, idx, idx, torch.zeros_like(idx), intra, strategy=strategy)
    assert torch.allclose(sims.ti, t @ i.T, atol=1e-5)
    assert torch.allclose(sims.it, i @ t.T, atol=1e-5)
    assert torch.allclose(sims.tt, t @ t.T, atol=1e-5)
    assert torch.allclose(sims.ii, i @ i.T, atol=1e-5)


def test_beta1_prob_equals_clip_on_a_legacy_eos2_checkpoint_loaded_from_pretrained(tmp_path) -> None:
    legacy_clip_folder(tmp_path / "clip")
    backbone = build_backbone(BackboneConfig(preset="clip-vit-b32", name_or_path=str(tmp_path / "clip"),
                                             max_text_tokens=40))
    model = RCMLModel(backbone, RCMLConfig(beta=1.0))
    titles = ["baby bottle", "milk bags", "crib"]
    items, px, feats, rels = _encode(model, titles, ["same product", "bought together"])
    ref = _clip_reference(model, items, px)
    idx = torch.arange(3)
    z = model.condition(feats, rels, idx, torch.zeros_like(idx), torch.ones_like(idx, dtype=torch.bool))
    assert torch.allclose(z.text, ref.text_embeds, atol=1e-5)
    assert torch.allclose(z.image, ref.image_embeds, atol=1e-5)


def test_beta1_intra_only_lambda0_loss_equals_transformers_clip_loss(backbone) -> None:
    tau = 0.1
    model = RCMLModel(backbone, RCMLConfig(beta=1.0))
    batch = pair_batch(backbone, INTRA_ROWS)
    with torch.no_grad():
        model.clip.logit_scale.fill_(math.log(1 / tau))
    ref = model.clip(input_ids=batch.item_input_ids, attention_mask=batch.item_attention_mask,
                     pixel_values=batch.pixel_values, return_loss=True)
    config = LossConfig(tau=tau, lambda_intra=0.0)
    ours = rcml_loss(model(batch), batch.negative_mask, batch.intra, config)
    assert ours.total.item() == pytest.approx(ref.loss.item(), rel=1e-5)
    assert model.loss(batch, config).total.item() == pytest.approx(ref.loss.item(), rel=1e-5)
    items = model.encode_items(batch.item_input_ids, batch.item_attention_mask, batch.pixel_values)
    plain = model.clip_embeddings(items)
    assert clip_loss(plain.text, plain.image, tau).item() == pytest.approx(ref.loss.item(), rel=1e-5)


@pytest.mark.parametrize("mode", ["prob", "logit"])
def test_pair_similarities_equal_explicit_conditioned_embeddings(backbone, mode) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6, summary_mix=mode))
    _, _, feats, rels = _encode(model)
    src, dst, rel = (torch.tensor(c) for c in zip(*MIXED_ROWS))
    intra = rel == 0
    sims = model.pair_similarities(feats, rels, src, dst, rel, intra)
    b = len(MIXED_ROWS)
    # explicit: anchor src_r under e_r, candidate dst_s under e_r (with row r's intra flag), then dot
    anchors = model.condition(feats, rels, src, rel, intra)
    cand_items = dst.repeat(b)  # (B*B,) s fastest
    cand_rel, cand_intra = rel.repeat_interleave(b), intra.repeat_interleave(b)
    cands = model.condition(feats, rels, cand_items, cand_rel, cand_intra)
    cand_t, cand_i = cands.text.view(b, b, -1), cands.image.view(b, b, -1)  # (B, B, d)
    assert torch.allclose(sims.ti, torch.einsum("rd,rsd->rs", anchors.text, cand_i), atol=1e-5)
    assert torch.allclose(sims.it, torch.einsum("rd,rsd->rs", anchors.image, cand_t), atol=1e-5)
    assert torch.allclose(sims.tt, torch.einsum("rd,rsd->rs", anchors.text, cand_t), atol=1e-5)
    assert torch.allclose(sims.ii, torch.einsum("rd,rsd->rs", anchors.image, cand_i), atol=1e-5)


def test_relation_conditioning_changes_the_embedding_when_beta_below_one(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.0))
    _, _, feats, rels = _encode(model)
    idx = torch.tensor([0, 0])
    z = model.condition(feats, rels, idx, torch.tensor([1, 2]), torch.tensor([False, False]))
    assert not torch.allclose(z.text[0], z.text[1], atol=1e-4)


def _inter_embeddings(model: RCMLModel, feats, rels):
    """Every item conditioned on inter relation 1 (an evaluation query's rows are all inter)."""
    idx = torch.arange(len(TITLES))
    return model.condition(feats, rels, idx, torch.ones_like(idx), torch.zeros_like(idx, dtype=torch.bool))


def test_beta_changes_inter_row_embeddings_in_logit_mode_and_not_in_prob_mode(backbone) -> None:
    """Where beta acts (docs/method.md): in "logit" mode (eq. 5 literally) beta scales the relation logits of
    inter rows too, so every evaluation embedding moves with beta; in "prob" mode an inter row's attention
    is softmax(q) whatever beta is, and only the intra training rows see beta."""
    feats = rels = None
    out = {}
    for mode in ("prob", "logit"):
        for beta in (0.0, 0.5, 1.0):
            model = RCMLModel(backbone, RCMLConfig(beta=beta, summary_mix=mode))
            if feats is None:  # same weights for every (mode, beta): beta is not a parameter
                _, _, feats, rels = _encode(model)
            out[mode, beta] = _inter_embeddings(model, feats, rels)
    for beta in (0.5, 1.0):
        assert torch.equal(out["prob", beta].text, out["prob", 0.0].text)
        assert torch.equal(out["prob", beta].image, out["prob", 0.0].image)
        assert (out["logit", beta].text - out["logit", 0.0].text).abs().max() > 1e-3
        assert (out["logit", beta].image - out["logit", 0.0].image).abs().max() > 1e-3
    assert torch.allclose(out["logit", 0.0].text, out["prob", 0.0].text, atol=1e-6)  # beta = 0: the modes agree


def test_relation_swap_similarities_condition_both_sides_on_each_option(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6))
    _, _, feats, rels = _encode(model)
    src, dst = torch.tensor([0, 1, 5]), torch.tensor([2, 4, 1])
    options = torch.tensor([1, 2])
    swap = model.relation_swap_similarities(feats, rels, src, dst, options)
    assert swap.ti.shape == (3, 2)
    for j, e in enumerate(options.tolist()):
        e_idx, no = torch.full((3,), e), torch.zeros(3, dtype=torch.bool)
        a, c = model.condition(feats, rels, src, e_idx, no), model.condition(feats, rels, dst, e_idx, no)
        assert torch.allclose(swap.ti[:, j], (a.text * c.image).sum(-1), atol=1e-5)
        assert torch.allclose(swap.it[:, j], (a.image * c.text).sum(-1), atol=1e-5)
        assert torch.allclose(swap.tt[:, j], (a.text * c.text).sum(-1), atol=1e-5)
        assert torch.allclose(swap.ii[:, j], (a.image * c.image).sum(-1), atol=1e-5)


def _wq_wk_grad_norm(backbone, beta: float, rows) -> float:
    model = RCMLModel(backbone, RCMLConfig(beta=beta, summary_mix="prob"))
    batch = pair_batch(backbone, rows)
    model.loss(batch, LossConfig()).total.backward()
    grads = [model.attention.w_q.grad, model.attention.w_k.grad]
    return sum(0.0 if g is None else g.abs().sum().item() for g in grads)


def test_wq_wk_get_no_gradient_at_beta1_on_intra_rows_in_prob_mode(backbone) -> None:
    assert _wq_wk_grad_norm(backbone, 1.0, INTRA_ROWS) == 0.0


def test_wq_wk_get_gradient_on_intra_rows_when_beta_below_one(backbone) -> None:
    assert _wq_wk_grad_norm(backbone, 0.9, INTRA_ROWS) > 0.0


def test_wq_wk_get_gradient_from_inter_rows_even_at_beta1(backbone) -> None:
    inter_rows = [r for r in MIXED_ROWS if r[2] != 0]
    assert _wq_wk_grad_norm(backbone, 1.0, inter_rows) > 0.0


def test_backbone_runs_once_per_unique_item_and_relation(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig())
    rows = MIXED_ROWS + [(0, 2, 1), (4, 4, 0), (2, 0, 1), (1, 1, 0)]  # B = 10 rows over U = 6 items
    batch = pair_batch(backbone, rows)
    calls = {"text": [], "vision": []}

    def record(tower: str, key: str):
        return lambda module, args, kwargs, out: calls[tower].append(kwargs[key].shape[0])

    hooks = [
        model.clip.text_model.register_forward_hook(record("text", "input_ids"), with_kwargs=True),
        model.clip.vision_model.register_forward_hook(record("vision", "pixel_values"), with_kwargs=True),
    ]
    model.loss(batch, LossConfig())
    for h in hooks:
        h.remove()
    assert calls == {"text": [len(TITLES), len(RELATIONS)], "vision": [len(TITLES)]}


def test_frozen_backbone_only_documented_parameters_get_gradients(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6, frozen_backbone=True))
    documented = {"attention.w_q", "attention.w_k", "attention.w_v", "attention.w_o",
                  "clip.text_projection.weight", "clip.visual_projection.weight"}
    assert {n for n, p in model.named_parameters() if p.requires_grad} == documented
    model.loss(pair_batch(backbone, MIXED_ROWS), LossConfig()).total.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad == documented


def test_full_backbone_trains_everything_but_the_unused_logit_scale(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {n for n, _ in model.named_parameters()} - {"clip.logit_scale"}
    model.loss(pair_batch(backbone, MIXED_ROWS), LossConfig()).total.backward()
    assert model.clip.text_model.embeddings.token_embedding.weight.grad is not None
    assert model.clip.vision_model.encoder.layers[0].mlp.fc1.weight.grad.abs().sum() > 0


def test_values_start_as_identity_maps_and_queries_are_seeded(backbone) -> None:
    a, b = RCMLModel(backbone, RCMLConfig(init_seed=3)), RCMLModel(backbone, RCMLConfig(init_seed=3))
    assert torch.equal(a.attention.w_v, torch.eye(64)) and torch.equal(a.attention.w_o, torch.eye(64))
    assert torch.equal(a.attention.w_q, b.attention.w_q)
    assert not torch.equal(a.attention.w_q, RCMLModel(backbone, RCMLConfig(init_seed=4)).attention.w_q)


def test_loss_with_relation_negatives_uses_the_batch_swap_relations(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6))
    batch = pair_batch(backbone, MIXED_ROWS)
    config = LossConfig(relation_negatives=True)
    with pytest.raises(ConfigError, match="no swap_relations"):
        model.loss(batch, config)
    batch.swap_relations = torch.tensor([1, 2])
    batch.swap_exclude = torch.stack([batch.rel == 1, batch.rel == 2], dim=1)  # a row's own relation is no negative
    with_swap = model.loss(batch, config)
    items = model.encode_items(batch.item_input_ids, batch.item_attention_mask, batch.pixel_values)
    rels = model.encode_relations(batch.relation_input_ids, batch.relation_attention_mask)
    sims = model.pair_similarities(items, rels, batch.src, batch.dst, batch.rel, batch.intra)
    swap = model.relation_swap_similarities(items, rels, batch.src, batch.dst, batch.swap_relations)
    expected = rcml_loss(sims, batch.negative_mask, batch.intra, config, swap=swap, swap_exclude=batch.swap_exclude)
    assert with_swap.total.item() == pytest.approx(expected.total.item(), rel=1e-6)
    without = model.loss(batch, LossConfig())
    assert with_swap.total.item() > without.total.item()  # extra negatives only add to the denominators


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"beta": 1.2}, r"model.beta must be in \[0, 1\]"),
        ({"beta": True}, r"model.beta must be a number in \[0, 1\], got True"),
        ({"summary_mix": "sum"}, "model.summary_mix must be one of"),
        ({"frozen_backbone": "yes"}, "model.frozen_backbone must be true or false"),
        ({"init_seed": -2}, "model.init_seed must be an integer >= 0"),
    ],
)
def test_rcml_config_rejects_bad_values_naming_the_field(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        RCMLConfig(**overrides)


def test_pair_batch_rejects_mismatched_shapes_and_out_of_range_indices(backbone) -> None:
    batch = pair_batch(backbone, MIXED_ROWS)
    fields = dict(batch.__dict__)
    with pytest.raises(ValueError, match=r"PairBatch.dst: expected shape \(6,\)"):
        type(batch)(**(fields | {"dst": batch.dst[:3]}))
    with pytest.raises(ValueError, match=r"PairBatch.rel: indices must be in \[0, 3\)"):
        type(batch)(**(fields | {"rel": batch.rel + 5}))
    with pytest.raises(ValueError, match="PairBatch.negative_mask"):
        type(batch)(**(fields | {"negative_mask": batch.negative_mask.float()}))


def test_clip_embeddings_are_unit_and_ignore_relations(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig())
    _, _, feats, _ = _encode(model)
    plain = model.clip_embeddings(feats)
    assert torch.allclose(plain.text.norm(dim=-1), torch.ones(len(TITLES)))
    assert torch.allclose(plain.image, F.normalize(feats.image.tokens[:, 0], dim=-1))


@pytest.mark.gpu
def test_loss_on_cuda_equals_the_loss_on_cpu(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6))
    batch = pair_batch(backbone, MIXED_ROWS)
    cpu = model.loss(batch, LossConfig()).total.item()
    gpu = model.to("cuda").loss(batch.to("cuda"), LossConfig()).total.item()
    assert gpu == pytest.approx(cpu, rel=1e-4)
