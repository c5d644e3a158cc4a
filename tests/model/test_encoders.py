"""Token encoders: the one EOT pooling rule, projected token features, relation embeddings."""

from __future__ import annotations

import pytest
import torch
from rcml_testkit import RELATIONS, TITLES, pixels

from rcml_core.errors import ConfigError
from rcml_core.model.encoders import (
    TokenFeatures,
    encode_image_tokens,
    encode_relation_text,
    encode_text_tokens,
    eot_index,
)


def test_eot_index_is_the_first_eos_among_real_tokens() -> None:
    ids = torch.tensor([[2, 7, 3, 0, 0], [2, 3, 9, 3, 0], [3, 5, 6, 7, 3]])
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [0, 1, 1, 1, 1]])
    assert eot_index(ids, mask, eos_token_id=3).tolist() == [2, 1, 4]


def test_eot_index_uses_argmax_of_ids_for_legacy_eos_id_2() -> None:
    ids = torch.tensor([[49406, 320, 49407, 49407], [49406, 49407, 49407, 49407]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert eot_index(ids, mask, eos_token_id=2).tolist() == [2, 1]


def test_concatenated_token_features_pad_the_shorter_chunk_with_masked_zero_tokens() -> None:
    a = TokenFeatures(torch.ones(1, 2, 3), torch.tensor([[True, True]]), torch.tensor([1]))
    b = TokenFeatures(torch.full((2, 3, 3), 2.0), torch.tensor([[True, True, False], [True, True, True]]),
                      torch.tensor([1, 2]))
    out = TokenFeatures.cat([a, b])
    assert out.tokens.shape == (3, 3, 3)
    assert out.tokens[0, 2].tolist() == [0.0, 0.0, 0.0] and out.tokens[1:].eq(2.0).all()
    assert out.mask.tolist() == [[True, True, False], [True, True, False], [True, True, True]]
    assert out.summary_index.tolist() == [1, 1, 2]


def test_eot_index_without_eos_in_a_row_is_a_config_error() -> None:
    ids = torch.tensor([[2, 7, 3], [2, 7, 8]])
    with pytest.raises(ConfigError, match=r"text rows \[1\] contain no EOS token \(id 3\)"):
        eot_index(ids, torch.ones_like(ids), eos_token_id=3)


def test_text_tokens_are_projected_and_the_eot_token_is_clip_pooled_text_feature(backbone) -> None:
    clip = backbone.clip
    ids = backbone.tokenize(TITLES)
    feats = encode_text_tokens(clip, ids.input_ids, ids.attention_mask)
    assert feats.tokens.shape == (len(TITLES), ids.input_ids.shape[1], backbone.width)
    assert torch.equal(feats.mask, ids.attention_mask.bool())
    pooled = clip.text_model(input_ids=ids.input_ids, attention_mask=ids.attention_mask).pooler_output
    summary = feats.tokens[torch.arange(len(TITLES)), feats.summary_index]
    assert torch.allclose(summary, clip.text_projection(pooled), atol=1e-6)


def test_image_tokens_are_post_layernormed_and_projected_with_cls_first(backbone) -> None:
    clip = backbone.clip
    feats = encode_image_tokens(clip, pixels(backbone, 2))
    assert feats.tokens.shape == (2, (32 // 8) ** 2 + 1, backbone.width)  # [CLS] + 16 patches
    assert feats.mask.all() and feats.summary_index.tolist() == [0, 0]
    pooled = clip.vision_model(pixel_values=pixels(backbone, 2)).pooler_output  # post_layernorm([CLS])
    assert torch.allclose(feats.tokens[:, 0], clip.visual_projection(pooled), atol=1e-6)


def test_relation_embedding_is_the_projected_eot_output_of_the_text_tower(backbone) -> None:
    clip = backbone.clip
    ids = backbone.tokenize(RELATIONS)
    h = encode_relation_text(clip, ids.input_ids, ids.attention_mask)
    assert h.shape == (len(RELATIONS), backbone.width)
    pooled = clip.text_model(input_ids=ids.input_ids, attention_mask=ids.attention_mask).pooler_output
    assert torch.allclose(h, clip.text_projection(pooled), atol=1e-6)
