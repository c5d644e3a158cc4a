"""Tiny offline data for the model tests: texts, pixels and PairBatch builders (no hub)."""

from __future__ import annotations

import dataclasses

import torch
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from rcml_core.model.backbone import Backbone
from rcml_core.model.batch import PairBatch
from rcml_core.model.packing import pack_texts

TITLES = [
    "Anti colic baby bottle 250 ml",
    "Soft nursing pillow, washable cover",
    "Milk storage bags (pack of 50)",
    "Bottle sterilizer for microwave",
    "Wooden crib with adjustable mattress height",
    "Baby monitor with night vision camera and long range audio",
]
RELATIONS = [
    "These two items represent the same product. Align their features accordingly.",
    "Co-purchased by people who primarily buy Feeding, followed by Nursery, with minimal interest in Toys.",
    "Co-purchased by people who primarily buy Nursery, followed by Safety.",
]

MIXED_ROWS = [(0, 0, 0), (0, 2, 1), (1, 4, 2), (3, 3, 0), (5, 1, 2), (2, 3, 1)]  # intra and inter rows


def with_packed_text(batch: PairBatch) -> PairBatch:
    """`batch` with its titles and relation texts also packed, as make_pair_batch builds training batches."""
    packed = pack_texts([batch.item_input_ids, batch.relation_input_ids],
                        [batch.item_attention_mask, batch.relation_attention_mask])
    return dataclasses.replace(batch, packed_text=packed)


def pixels(backbone: Backbone, n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, backbone.image_size, backbone.image_size, generator=generator)  # (n, 3, S, S)


def pair_batch(
    backbone: Backbone,
    rows: list[tuple[int, int, int]],
    titles: list[str] | None = None,
    relations: list[str] | None = None,
) -> PairBatch:
    """A PairBatch over `titles` (unique items) and `relations`; rows (src, dst, rel); relation 0 is intra.

    Only the positive's own item and the anchor are masked as false negatives.
    """
    titles = TITLES if titles is None else titles
    relations = RELATIONS if relations is None else relations
    items = backbone.tokenize(titles)
    rels = backbone.tokenize(relations)
    src = torch.tensor([r[0] for r in rows])
    dst = torch.tensor([r[1] for r in rows])
    rel = torch.tensor([r[2] for r in rows])
    negative = (dst[None, :] == dst[:, None]) | (dst[None, :] == src[:, None])  # (B, B)
    return PairBatch(
        item_input_ids=items.input_ids,
        item_attention_mask=items.attention_mask,
        pixel_values=pixels(backbone, len(titles)),
        relation_input_ids=rels.input_ids,
        relation_attention_mask=rels.attention_mask,
        src=src,
        dst=dst,
        rel=rel,
        intra=rel == 0,
        negative_mask=negative,
    )


def legacy_clip_folder(path, image_size: int = 32) -> CLIPTokenizer:
    """A tiny random CLIP saved the way the OpenAI checkpoints are: BPE CLIPTokenizer, eos_token_id 2."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {c: i for i, c in enumerate(letters)} | {c + "</w>": 26 + i for i, c in enumerate(letters)}
    vocab |= {"<|startoftext|>": 52, "<|endoftext|>": 53}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    config = CLIPConfig(
        text_config=dict(vocab_size=54, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=40, bos_token_id=0, pad_token_id=1,
                         eos_token_id=2),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=image_size, patch_size=8),
        projection_dim=16,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CLIPModel(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    CLIPImageProcessorPil(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
                          image_mean=[0.5, 0.5, 0.5], image_std=[0.25, 0.25, 0.25]).save_pretrained(path)
    return tokenizer
