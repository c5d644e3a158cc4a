"""Tokenisation for the CLIP text tower: EOS-terminated, padded, truncation counted."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from rcml_core.errors import ConfigError
from rcml_core.model.tokenizer import build_word_level_tokenizer, tokenize


def test_tiny_tokenizer_special_ids_keep_eos_away_from_the_legacy_id_2() -> None:
    tok = build_word_level_tokenizer(["red shoe", "blue shoe"], max_text_tokens=16)
    assert (tok.pad_token_id, tok.unk_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2, 3)


def test_tokenize_lowercases_splits_punctuation_and_maps_unknown_words_to_unk() -> None:
    tok = build_word_level_tokenizer(["Red shoe, size 9"], max_text_tokens=16)
    out = tokenize(tok, ["RED shoe,purple"], max_text_tokens=16)
    ids = out.input_ids[0].tolist()
    words = tok.convert_ids_to_tokens(ids)
    assert words == ["[BOS]", "red", "shoe", ",", "[UNK]", "[EOS]"]


def test_tokenize_pads_to_the_longest_text_and_every_row_ends_with_eos(backbone) -> None:
    out = backbone.tokenize(["baby bottle", "soft nursing pillow, washable cover"])
    assert out.input_ids.shape == out.attention_mask.shape == (2, 8)
    assert out.attention_mask.tolist() == [[1, 1, 1, 1, 0, 0, 0, 0], [1] * 8]
    lengths = out.attention_mask.sum(1)
    last = out.input_ids[torch.arange(2), lengths - 1]
    assert last.tolist() == [backbone.tokenizer.eos_token_id] * 2
    assert out.input_ids[0, 4:].tolist() == [backbone.tokenizer.pad_token_id] * 4
    assert out.truncated == 0


def test_too_long_relation_text_is_cut_to_max_tokens_ends_with_eos_and_is_counted(make_backbone) -> None:
    backbone = make_backbone(max_text_tokens=6)
    long_relation = "Co-purchased by people who primarily buy Feeding, followed by Nursery."
    out = backbone.tokenize([long_relation, "baby bottle", long_relation])
    assert out.input_ids.shape == (3, 6)
    assert out.truncated == 2
    eos = backbone.tokenizer.eos_token_id
    assert out.input_ids[:, -1].tolist() == [eos, backbone.tokenizer.pad_token_id, eos]
    words = backbone.tokenizer.convert_ids_to_tokens(out.input_ids[0].tolist())
    assert words == ["[BOS]", "co", "-", "purchased", "by", "[EOS]"]  # first max - 1 tokens, then EOS


def test_a_text_of_exactly_max_tokens_is_not_counted_as_truncated(make_backbone) -> None:
    backbone = make_backbone(max_text_tokens=4)
    out = backbone.tokenize(["baby bottle", "baby bottle milk"])  # 4 and 5 tokens with BOS / EOS
    assert out.truncated == 1
    assert out.input_ids[0].tolist() == [2, *out.input_ids[0, 1:3].tolist(), 3]


def test_tokenizer_that_does_not_append_eos_is_a_config_error() -> None:
    raw = Tokenizer(models.WordLevel({"[PAD]": 0, "[EOS]": 1, "[UNK]": 2, "red": 3}, unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="[PAD]", eos_token="[EOS]", unk_token="[UNK]")
    with pytest.raises(ConfigError, match="does not end text 0 .* with EOS"):
        tokenize(tok, ["red"], max_text_tokens=8)


def test_empty_corpus_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="corpus is empty"):
        build_word_level_tokenizer(["", "  "], max_text_tokens=8)
