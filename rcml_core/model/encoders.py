"""Token-level CLIP features in the shared width d (paper eq. 3) and relation embeddings h_E.

We call `clip.text_model` / `clip.vision_model` and apply the projections ourselves (CONVENTIONS.md
#10): the text tower's last_hidden_state is already final-layer-normed; the vision tower's is not, so
every image token goes through `post_layernorm` then `visual_projection`, exactly what CLIP applies to
its [CLS] token. Hence the token at `summary_index` is CLIP's own (unnormalised) text_embeds /
image_embeds, which is what makes CLIP a special case of RCML (DESIGN §2).

A training step's titles and relation texts can go through the text tower in one padding-free call
(`encode_packed_text`, rcml_core.model.packing); the features are the same as the two padded calls'.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from rcml_core.errors import ConfigError

if TYPE_CHECKING:
    from transformers import CLIPModel

    from rcml_core.model.packing import PackedText

LEGACY_EOS_TOKEN_ID = 2


@dataclass
class TokenFeatures:
    """Token features of N texts or images, projected to the shared width d."""

    tokens: Tensor  # (N, n, d)
    mask: Tensor  # (N, n) bool, True = real token
    summary_index: Tensor  # (N,) long: EOT position for text, 0 ([CLS]) for images

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


def eot_index(input_ids: Tensor, attention_mask: Tensor, eos_token_id: int) -> Tensor:
    """Position of the EOT token that the CLIP text tower pools at, (N, n) -> (N,) long.

    The one pooling rule of this code base, identical to transformers' CLIPTextModel:
    - eos_token_id == 2 (legacy OpenAI configs): argmax(input_ids), the EOT being the largest id;
    - otherwise: the first position holding eos_token_id among real tokens (attention_mask == 1).
    Raises ConfigError when a row has no EOS (the tokenizer and the text config disagree).
    """
    if eos_token_id == LEGACY_EOS_TOKEN_ID:
        return input_ids.argmax(dim=-1)  # (N,) first maximal id
    is_eos = (input_ids == eos_token_id) & attention_mask.bool()  # (N, n)
    found = is_eos.any(dim=-1)  # (N,)
    if not bool(found.all()):
        rows = torch.nonzero(~found).flatten()[:5].tolist()
        raise ConfigError(
            f"text rows {rows} contain no EOS token (id {eos_token_id}): tokenizer and text config disagree"
        )
    return is_eos.int().argmax(dim=-1)  # (N,) first EOS


def encode_text_tokens(clip: CLIPModel, input_ids: Tensor, attention_mask: Tensor) -> TokenFeatures:
    """H_T = text_projection(f_T(T)) for every token (eq. 3): (N, n) ids -> tokens (N, n, d)."""
    hidden = clip.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (N, n, h)
    return TokenFeatures(
        tokens=clip.text_projection(hidden),  # (N, n, d)
        mask=attention_mask.bool(),
        summary_index=eot_index(input_ids, attention_mask, int(clip.config.text_config.eos_token_id)),
    )


def encode_image_tokens(clip: CLIPModel, pixel_values: Tensor) -> TokenFeatures:
    """H_I = visual_projection(post_layernorm(f_I(I))) over all m tokens ([CLS] + patches) (eq. 3)."""
    vision = clip.vision_model
    hidden = vision(pixel_values=pixel_values).last_hidden_state  # (N, m, h), not yet post-layernormed
    tokens = clip.visual_projection(vision.post_layernorm(hidden))  # (N, m, d)
    n, m = tokens.shape[:2]
    return TokenFeatures(
        tokens=tokens,
        mask=torch.ones((n, m), dtype=torch.bool, device=tokens.device),
        summary_index=torch.zeros(n, dtype=torch.long, device=tokens.device),
    )


def encode_relation_text(clip: CLIPModel, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """h_E = text_projection(f_T^EOT(e)): the EOT-pooled, projected relation text, (R, n) -> (R, d)."""
    hidden = clip.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (R, n, h)
    eot = eot_index(input_ids, attention_mask, int(clip.config.text_config.eos_token_id))  # (R,)
    pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), eot]  # (R, h)
    return clip.text_projection(pooled)  # (R, d)


def text_attention_implementation(clip: CLIPModel) -> str:
    """The attention implementation transformers resolved for the text tower ("sdpa", "eager", ...)."""
    return str(getattr(clip.text_model.config, "_attn_implementation", None) or "eager")


def encode_packed_text(
    clip: CLIPModel, packed: PackedText, item_input_ids: Tensor, item_attention_mask: Tensor,
    relation_input_ids: Tensor, relation_attention_mask: Tensor,
) -> tuple[TokenFeatures, Tensor]:
    """H_T of U titles and h_E of R relation texts from one call of the text tower over `packed`.

    `packed` holds the U titles then the R relation texts (pack_texts([items, relations], ...));
    the padded ids / masks give each text's EOT position. -> tokens (U, n, d) and h_E (R, d), equal
    to encode_text_tokens and encode_relation_text up to float rounding.
    """
    u, n = item_input_ids.shape
    r = relation_input_ids.shape[0]
    if packed.num_texts != u + r:
        raise ValueError(f"packed text holds {packed.num_texts} texts, the batch has {u} titles + {r} relations")
    dtype = clip.text_model.embeddings.token_embedding.weight.dtype
    mask = packed.attention_mask(text_attention_implementation(clip), dtype)  # (P, 1, L, L)
    hidden = clip.text_model(input_ids=packed.input_ids, attention_mask=mask,
                             position_ids=packed.position_ids).last_hidden_state  # (P, L, h)
    flat = hidden.reshape(-1, hidden.shape[-1])  # (P * L, h)
    eos = int(clip.config.text_config.eos_token_id)
    text = TokenFeatures(
        tokens=clip.text_projection(flat[packed.token_positions(0, u, n)]),  # (U, n, d)
        mask=item_attention_mask.bool(),
        summary_index=eot_index(item_input_ids, item_attention_mask, eos),
    )
    relation_eot = packed.starts[u:] + eot_index(relation_input_ids, relation_attention_mask, eos)  # (R,)
    return text, clip.text_projection(flat[relation_eot])  # (R, d)
