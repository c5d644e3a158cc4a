"""The precision policy: only the towers run in bf16 (emulated here with CPU autocast); the
conditioning, the similarities and the loss are fp32, whatever autocast the caller runs under."""

from __future__ import annotations

import pytest
import torch
from rcml_testkit import MIXED_ROWS, RELATIONS, TITLES, pair_batch, pixels, with_packed_text

from rcml_core.errors import ConfigError
from rcml_core.loss import LossConfig, rcml_loss
from rcml_core.model.encoders import (
    encode_image_tokens,
    encode_relation_text,
    encode_text_tokens,
    set_encoder_autocast,
)
from rcml_core.model.outputs import PairSimilarities
from rcml_core.model.rcml import RCMLConfig, RCMLModel


def _model(backbone, dtype=None) -> RCMLModel:
    model = RCMLModel(backbone, RCMLConfig(beta=0.6))
    model.set_encoder_autocast(dtype)
    return model


def test_towers_under_bf16_autocast_return_fp32_features_rounded_like_bf16(backbone) -> None:
    items, rels = backbone.tokenize(TITLES), backbone.tokenize(RELATIONS)
    px = pixels(backbone, len(TITLES))
    reference = (encode_text_tokens(backbone.clip, items.input_ids, items.attention_mask).tokens,
                 encode_image_tokens(backbone.clip, px).tokens,
                 encode_relation_text(backbone.clip, rels.input_ids, rels.attention_mask))
    set_encoder_autocast(backbone.clip, torch.bfloat16)
    emulated = (encode_text_tokens(backbone.clip, items.input_ids, items.attention_mask).tokens,
                encode_image_tokens(backbone.clip, px).tokens,
                encode_relation_text(backbone.clip, rels.input_ids, rels.attention_mask))
    for ref, low in zip(reference, emulated):
        assert low.dtype == torch.float32
        scale = ref.abs().max().item()
        error = (low - ref).abs().max().item()
        # bf16 ran (features moved) but only by bf16 rounding through two layers (2^-8 relative, a few times)
        assert 0.0 < error < 0.1 * scale


def test_no_encoder_autocast_leaves_the_fp32_features_bit_identical(backbone) -> None:
    items = backbone.tokenize(TITLES)
    before = encode_text_tokens(backbone.clip, items.input_ids, items.attention_mask).tokens
    set_encoder_autocast(backbone.clip, None)
    assert torch.equal(encode_text_tokens(backbone.clip, items.input_ids, items.attention_mask).tokens, before)
    with pytest.raises(ConfigError, match="encoder autocast dtype"):
        set_encoder_autocast(backbone.clip, torch.float64)


@pytest.mark.parametrize("packed", [False, True])
def test_similarities_and_loss_are_fp32_even_under_a_callers_bf16_autocast(backbone, packed) -> None:
    batch = pair_batch(backbone, MIXED_ROWS)
    batch = with_packed_text(batch) if packed else batch
    model = _model(backbone, torch.bfloat16)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        sims = model(batch)
        out = model.loss(batch, LossConfig())
    assert all(v.dtype == torch.float32 for v in vars(sims).values())
    assert out.total.dtype == torch.float32
    # the same model with fp32 towers: the loss moves by bf16 rounding of the features only
    reference = _model(backbone, None).loss(batch, LossConfig()).total.item()
    assert out.total.item() == pytest.approx(reference, rel=0.02)


def test_the_loss_of_bf16_similarities_is_computed_in_fp32() -> None:
    generator = torch.Generator().manual_seed(0)
    b = 64
    raw = {k: torch.rand(b, b, generator=generator) * 2 - 1 for k in ("ti", "it", "tt", "ii")}
    low = PairSimilarities(**{k: v.to(torch.bfloat16) for k, v in raw.items()})
    rounded = PairSimilarities(**{k: v.to(torch.bfloat16).float() for k, v in raw.items()})
    mask = torch.zeros(b, b, dtype=torch.bool)
    intra = torch.arange(b) % 4 == 0
    config = LossConfig(tau=0.1)
    out = rcml_loss(low, mask, intra, config)
    assert out.total.dtype == torch.float32
    # exactly the fp32 loss of the bf16-rounded cosines: nothing after them is rounded to bf16
    assert torch.equal(out.total, rcml_loss(rounded, mask, intra, config).total)
    # while doing the arithmetic in bf16 (what an unpromoted logsumexp does) is off by far more
    logits = torch.stack([getattr(low, k) for k in ("ti", "it", "tt", "ii")]) / config.tau  # bf16
    bf16_rows = torch.logsumexp(logits, dim=-1) - logits.diagonal(dim1=-2, dim2=-1)
    fp32_rows = torch.logsumexp(logits.float(), dim=-1) - logits.float().diagonal(dim1=-2, dim2=-1)
    assert (bf16_rows.float() - fp32_rows).abs().max().item() > 1e-3


@pytest.mark.gpu
def test_on_cuda_bf16_towers_give_fp32_similarities_and_the_cpu_loss(backbone) -> None:
    batch = with_packed_text(pair_batch(backbone, MIXED_ROWS))
    reference = _model(backbone, None).loss(batch, LossConfig()).total.item()
    model = _model(backbone, torch.bfloat16).to("cuda")
    on_gpu = batch.to("cuda")
    sims = model(on_gpu)
    assert all(v.dtype == torch.float32 for v in vars(sims).values())
    assert model.loss(on_gpu, LossConfig()).total.item() == pytest.approx(reference, rel=0.02)
