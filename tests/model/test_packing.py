"""Packed text batches: titles and relation texts share rows of the text tower, with the same outputs."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from rcml_testkit import (
    MIXED_ROWS,
    RELATIONS,
    TITLES,
    legacy_clip_folder,
    pair_batch,
    with_packed_text,
)

from rcml_core.loss import LossConfig
from rcml_core.model import encoders
from rcml_core.model import rcml as rcml_module
from rcml_core.model.backbone import BackboneConfig, build_backbone
from rcml_core.model.encoders import (
    encode_packed_text,
    encode_relation_text,
    encode_text_tokens,
    supports_packed_text,
)
from rcml_core.model.packing import pack_texts, pack_when_smaller, plan_rows
from rcml_core.model.rcml import RCMLConfig, RCMLModel


def _unpack(packed, s: int) -> tuple[list[int], list[int]]:
    flat_ids, flat_pos = packed.input_ids.flatten(), packed.position_ids.flatten()
    start, n = int(packed.starts[s]), int(packed.lengths[s])
    return flat_ids[start : start + n].tolist(), flat_pos[start : start + n].tolist()


def test_plan_rows_fits_every_text_in_rows_of_the_given_length_without_overlap() -> None:
    lengths = [24, 16, 8, 12, 12, 5, 24, 3, 19, 1]
    rows, columns = plan_rows(lengths, 24)
    slots: dict[tuple[int, int], int] = {}
    for i, (r, c, n) in enumerate(zip(rows, columns, lengths)):
        assert c + n <= 24
        for t in range(c, c + n):
            assert (r, t) not in slots, f"text {i} overlaps text {slots[(r, t)]}"
            slots[(r, t)] = i
    assert max(rows) + 1 == 6  # 124 tokens: 6 rows of 24 (best fit leaves 20 slots free in all)


def test_plan_rows_rejects_a_text_longer_than_the_row() -> None:
    with pytest.raises(ValueError, match=r"text lengths must be in \[1, 4\]"):
        plan_rows([3, 5], 4)


def test_pack_texts_keeps_every_text_whole_with_positions_restarting_at_zero(backbone) -> None:
    titles, relations = backbone.tokenize(TITLES), backbone.tokenize(RELATIONS)
    packed = pack_texts([titles.input_ids, relations.input_ids], [titles.attention_mask, relations.attention_mask])
    assert packed.num_texts == len(TITLES) + len(RELATIONS)
    assert packed.row_length == max(titles.input_ids.shape[1], relations.input_ids.shape[1])
    texts = [(titles, i) for i in range(len(TITLES))] + [(relations, i) for i in range(len(RELATIONS))]
    for s, (tok, i) in enumerate(texts):
        n = int(tok.attention_mask[i].sum())
        ids, positions = _unpack(packed, s)
        assert ids == tok.input_ids[i, :n].tolist()
        assert positions == list(range(n))
    assert int((packed.segment_ids >= 0).sum()) == int(packed.lengths.sum())  # every token once
    assert packed.input_ids.shape[0] < len(texts)  # fewer rows than texts: they share rows


def test_packed_attention_mask_is_causal_within_each_text_and_unused_slots_see_only_themselves() -> None:
    ids = torch.tensor([[5, 6, 7], [8, 9, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    packed = pack_texts([ids], [mask])  # row length 3: [5 6 7], [8 9 _]
    allowed = packed.attention_mask("sdpa", torch.float32)[:, 0]  # (P, L, L)
    assert allowed.dtype == torch.bool and allowed.shape == (2, 3, 3)
    row = int(packed.starts[1]) // 3
    assert allowed[row].tolist() == [[True, False, False], [True, True, False], [False, False, True]]
    additive = packed.attention_mask("eager", torch.float32)[:, 0]
    assert torch.equal(additive == 0, allowed) and additive.min() == torch.finfo(torch.float32).min


def test_texts_stay_padded_when_packing_would_take_more_slots() -> None:
    titles = torch.ones(4, 5, dtype=torch.long)  # four titles of 5 tokens: padded, 4 x 5 slots
    relation, relation_mask = torch.ones(1, 8, dtype=torch.long), torch.ones(1, 8, dtype=torch.long)
    # rows of 8 hold one title each (5 + 5 > 8): 5 rows x 8 = 40 slots against 20 + 8 padded
    assert pack_when_smaller([titles, relation], [torch.ones_like(titles), relation_mask]) is None
    short = torch.tensor([[1, 1, 1, 0, 0]] * 4)  # titles of 3: two per row with room to spare
    packed = pack_when_smaller([titles, relation], [short, relation_mask])
    assert packed is not None and packed.input_ids.numel() <= 28


def test_pack_texts_and_masks_reject_what_they_cannot_pack() -> None:
    with pytest.raises(ValueError, match="right-padded"):
        pack_texts([torch.tensor([[0, 5, 6]])], [torch.tensor([[0, 1, 1]])])
    packed = pack_texts([torch.tensor([[5, 6]])], [torch.tensor([[1, 1]])])
    with pytest.raises(ValueError, match="flash_attention_2"):
        packed.attention_mask("flash_attention_2", torch.float32)


@pytest.mark.parametrize("implementation", ["sdpa", "eager"])
def test_one_packed_call_gives_the_padded_calls_token_features_and_relation_embeddings(backbone,
                                                                                       implementation) -> None:
    clip = backbone.clip
    clip.set_attn_implementation(implementation)
    titles, relations = backbone.tokenize(TITLES), backbone.tokenize(RELATIONS)
    packed = pack_texts([titles.input_ids, relations.input_ids], [titles.attention_mask, relations.attention_mask])
    text, h_e = encode_packed_text(clip, packed, titles.input_ids, titles.attention_mask, relations.input_ids,
                                   relations.attention_mask)
    ref_text = encode_text_tokens(clip, titles.input_ids, titles.attention_mask)
    ref_h_e = encode_relation_text(clip, relations.input_ids, relations.attention_mask)
    real = titles.attention_mask.bool()[..., None]
    assert torch.allclose(text.tokens * real, ref_text.tokens * real, atol=1e-5)
    assert torch.equal(text.summary_index, ref_text.summary_index) and torch.equal(text.mask, ref_text.mask)
    assert torch.allclose(h_e, ref_h_e, atol=1e-5)


def test_packed_encoding_reads_the_eot_of_legacy_argmax_configs(tmp_path) -> None:
    legacy_clip_folder(tmp_path / "clip")
    backbone = build_backbone(BackboneConfig(preset="clip-vit-b32", name_or_path=str(tmp_path / "clip"),
                                             max_text_tokens=40))
    titles, relations = backbone.tokenize(["baby bottle", "milk bags", "crib"]), backbone.tokenize(["same product"])
    packed = pack_texts([titles.input_ids, relations.input_ids], [titles.attention_mask, relations.attention_mask])
    _, h_e = encode_packed_text(backbone.clip, packed, titles.input_ids, titles.attention_mask, relations.input_ids,
                                relations.attention_mask)
    assert torch.allclose(h_e, encode_relation_text(backbone.clip, relations.input_ids, relations.attention_mask),
                          atol=1e-5)


def test_a_packed_batch_trains_exactly_like_the_padded_batch(backbone) -> None:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6))
    padded = pair_batch(backbone, MIXED_ROWS)
    packed = with_packed_text(padded)
    config = LossConfig(lambda_intra=0.5)
    grads = []
    for batch in (padded, packed):
        model.zero_grad(set_to_none=True)
        loss = model.loss(batch, config)
        loss.total.backward()
        grad = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        grads.append((float(loss.total.detach()), grad))
    (loss_padded, g_padded), (loss_packed, g_packed) = grads
    assert loss_packed == pytest.approx(loss_padded, abs=1e-5)
    assert g_packed.keys() == g_padded.keys()
    for name in g_padded:
        assert torch.allclose(g_packed[name], g_padded[name], atol=1e-5), name


def test_packing_needs_clip_text_layers_and_an_attention_that_takes_a_4d_mask(backbone, monkeypatch) -> None:
    assert supports_packed_text(backbone.clip)  # sdpa
    backbone.clip.set_attn_implementation("eager")
    assert supports_packed_text(backbone.clip)
    monkeypatch.setattr(encoders, "text_attention_implementation", lambda clip: "flash_attention_2")
    assert not supports_packed_text(backbone.clip)
    monkeypatch.undo()
    layer = backbone.clip.text_model.encoder.layers[-1]

    class OtherLayer(type(layer)):  # a layer of another design: the packed pass would not run its forward
        def forward(self, *args, **kwargs):
            raise AssertionError("not CLIP's layer")

    monkeypatch.setattr(layer, "__class__", OtherLayer)
    assert not supports_packed_text(backbone.clip)


def test_a_tower_whose_attention_cannot_take_a_packed_mask_gets_the_padded_calls(backbone, monkeypatch) -> None:
    model = RCMLModel(backbone, RCMLConfig())
    batch = with_packed_text(pair_batch(backbone, MIXED_ROWS))
    expected = model(dataclasses.replace(batch, packed_text=None)).ti
    monkeypatch.setattr(rcml_module, "supports_packed_text", lambda clip: False)
    monkeypatch.setattr(rcml_module, "encode_packed_text", lambda *a, **k: pytest.fail("packed call on flash"))
    assert torch.allclose(model(batch).ti, expected)


def test_pair_batch_checks_that_the_packed_text_holds_its_titles_and_relations(backbone) -> None:
    batch = with_packed_text(pair_batch(backbone, MIXED_ROWS))
    short = dataclasses.replace(batch.packed_text, starts=batch.packed_text.starts[:-1],
                                lengths=batch.packed_text.lengths[:-1])
    with pytest.raises(ValueError, match=f"expected the {len(TITLES)} titles and {len(RELATIONS)} relation texts"):
        dataclasses.replace(batch, packed_text=short)
    moved = batch.to("cpu")
    assert torch.equal(moved.packed_text.input_ids, batch.packed_text.input_ids)
