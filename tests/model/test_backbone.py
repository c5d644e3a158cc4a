"""Backbone presets, validation, offline save / reload and the from_pretrained path."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import CLIPModel

from rcml_core.errors import ConfigError
from rcml_core.model.backbone import BackboneConfig, build_backbone, load_backbone, save_backbone

from rcml_testkit import RELATIONS, TITLES, legacy_clip_folder, pixels


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"preset": "vit-h14"}, "backbone.preset must be one of"),
        ({"name_or_path": "openai/clip-vit-base-patch32"}, "name_or_path is only used by preset 'clip-vit-b32'"),
        ({"max_text_tokens": 2}, r"backbone.max_text_tokens must be an integer in \[3, 512\]"),
        ({"hidden_size": 0}, "backbone.hidden_size must be an integer >= 1"),
        ({"num_heads": 5}, r"num_heads \(5\) must divide hidden_size \(64\)"),
        ({"patch_size": 5}, r"patch_size \(5\) must divide image_size \(32\)"),
        ({"init_seed": -1}, "backbone.init_seed must be an integer >= 0"),
    ],
)
def test_backbone_config_rejects_bad_values_naming_the_field(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        BackboneConfig(**overrides)


def test_tiny_backbone_text_config_uses_the_tokenizer_special_ids(backbone) -> None:
    text = backbone.clip.config.text_config
    tok = backbone.tokenizer
    assert (text.pad_token_id, text.bos_token_id, text.eos_token_id) == (tok.pad_token_id, tok.bos_token_id, 3)
    assert text.vocab_size == len(tok)
    assert backbone.width == 64 and backbone.image_size == 32


def test_tiny_backbone_init_is_seeded_and_leaves_the_global_rng_alone(make_backbone) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = make_backbone(init_seed=1), make_backbone(init_seed=1), make_backbone(init_seed=2)
    assert torch.equal(torch.rand(1), expected_next)
    wa, wb, wc = (x.clip.text_projection.weight for x in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_tiny_preset_without_corpus_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="needs a corpus"):
        build_backbone(BackboneConfig())


def test_save_load_round_trip_is_offline_and_exact(backbone, tmp_path) -> None:
    save_backbone(backbone, tmp_path / "bb")
    loaded = load_backbone(tmp_path / "bb")
    for (name, p), (name2, q) in zip(backbone.clip.state_dict().items(), loaded.clip.state_dict().items()):
        assert name == name2 and torch.equal(p, q), name
    assert (loaded.image_size, loaded.image_mean, loaded.image_std, loaded.max_text_tokens) == (
        backbone.image_size, backbone.image_mean, backbone.image_std, backbone.max_text_tokens)
    texts = TITLES + RELATIONS
    assert torch.equal(loaded.tokenize(texts).input_ids, backbone.tokenize(texts).input_ids)


def test_save_without_weights_rebuilds_the_architecture_for_a_state_dict(backbone, tmp_path) -> None:
    save_backbone(backbone, tmp_path / "bb", weights=False)
    assert not (tmp_path / "bb" / "model.safetensors").exists()
    loaded = load_backbone(tmp_path / "bb")
    loaded.clip.load_state_dict(backbone.clip.state_dict())
    ids = backbone.tokenize(TITLES)
    out = loaded.clip.text_model(input_ids=ids.input_ids, attention_mask=ids.attention_mask).pooler_output
    ref = backbone.clip.text_model(input_ids=ids.input_ids, attention_mask=ids.attention_mask).pooler_output
    assert torch.equal(out, ref)


def test_load_backbone_from_a_folder_without_metadata_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="rcml_backbone.json: missing"):
        load_backbone(tmp_path)


def test_clip_vit_b32_preset_loads_a_local_folder_through_from_pretrained(tmp_path) -> None:
    legacy_clip_folder(tmp_path / "clip")
    backbone = build_backbone(BackboneConfig(preset="clip-vit-b32", name_or_path=str(tmp_path / "clip"),
                                             max_text_tokens=40))
    reference = CLIPModel.from_pretrained(tmp_path / "clip")
    for (name, p), q in zip(backbone.clip.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(p, q), name
    assert backbone.clip.config.text_config.eos_token_id == 2  # legacy argmax pooling
    assert (backbone.image_size, backbone.image_mean, backbone.image_std) == (32, (0.5,) * 3, (0.25,) * 3)
    ids = backbone.tokenize(["baby bottle", "milk"])
    assert ids.input_ids[:, 0].tolist() == [52, 52]
    assert ids.attention_mask[1].sum() == 6 and ids.input_ids[1, 5].item() == 53  # <bos> m i l k</w> <eos>
    _ = backbone.clip(input_ids=ids.input_ids, attention_mask=ids.attention_mask, pixel_values=pixels(backbone, 2))


def test_clip_vit_b32_preset_with_a_missing_model_offline_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot load a CLIP backbone from .*nowhere"):
        build_backbone(BackboneConfig(preset="clip-vit-b32", name_or_path=str(tmp_path / "nowhere")))


def test_max_text_tokens_beyond_the_text_positions_is_a_config_error(tmp_path) -> None:
    legacy_clip_folder(tmp_path / "clip")
    with pytest.raises(ConfigError, match=r"max_text_tokens \(77\) exceeds the text tower's 40 positions"):
        build_backbone(BackboneConfig(preset="clip-vit-b32", name_or_path=str(tmp_path / "clip")))


def test_saved_metadata_records_text_limit_and_weights(backbone, tmp_path) -> None:
    save_backbone(backbone, tmp_path, weights=False)
    assert json.loads((tmp_path / "rcml_backbone.json").read_text()) == {"max_text_tokens": 77, "weights": False}
