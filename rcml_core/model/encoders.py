"""Token-level CLIP features in the shared width d (paper eq. 3) and relation embeddings h_E.

We call `clip.text_model` / `clip.vision_model` and apply the projections ourselves (the same on
transformers 4 and 5, whose `get_text_features` changed its return type): the text tower's
last_hidden_state is already final-layer-normed; the vision tower's is not, so every image token goes
through `post_layernorm` then `visual_projection`, exactly what CLIP applies to its [CLS] token. Hence
the token at `summary_index` is CLIP's own (unnormalised) text_embeds / image_embeds, which is what
makes CLIP a special case of RCML.

Precision policy: the towers are where the FLOPs are, so they alone may run in reduced precision.
`set_encoder_autocast(clip, torch.bfloat16)` makes every encoder below run the towers under bf16
autocast; whatever the towers ran in, the features come back in fp32, so that the relation
conditioning, the similarity scores and the loss downstream are fp32 (RCMLModel keeps autocast off
there). bf16 scores tie often (8 bits of mantissa) and evaluation counts ties against the positive;
see docs/performance.md §8.

A training step's titles and relation texts can go through the text tower in one padding-free pass
(`encode_packed_text`, rcml_core.model.packing); the features are the same as the two padded calls'.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from rcml_core.errors import ConfigError
from rcml_core.model.packing import PACKING_IMPLEMENTATIONS

if TYPE_CHECKING:
    from transformers import CLIPModel

    from rcml_core.model.packing import PackedText

LEGACY_EOS_TOKEN_ID = 2
# Attribute of the CLIPModel holding the towers' autocast dtype (None or absent: the ambient precision).
# On the module, not on RCMLModel, so that every caller of these encoders (evaluation included) sees it.
ENCODER_AUTOCAST_ATTR = "rcml_encoder_autocast"


def set_encoder_autocast(clip: CLIPModel, dtype: torch.dtype | None) -> None:
    """Run the text and image towers of `clip` under autocast to `dtype` (None: no autocast of our own)."""
    if dtype not in (None, torch.bfloat16, torch.float16):
        raise ConfigError(f"encoder autocast dtype must be bfloat16, float16 or None, got {dtype}")
    setattr(clip, ENCODER_AUTOCAST_ATTR, dtype)


def encoder_autocast(clip: CLIPModel) -> torch.dtype | None:
    return getattr(clip, ENCODER_AUTOCAST_ATTR, None)


def _towers(clip: CLIPModel, device: torch.device):
    """The context the towers run in: autocast to the dtype set on `clip`, else the caller's context."""
    dtype = encoder_autocast(clip)
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None else nullcontext()


@dataclass
class TokenFeatures:
    """Token features of N texts or images, projected to the shared width d."""

    tokens: Tensor  # (N, n, d)
    mask: Tensor  # (N, n) bool, True = real token
    summary_index: Tensor  # (N,) long: EOT position for text, 0 ([CLS]) for images

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @staticmethod
    def cat(parts: Sequence[TokenFeatures]) -> TokenFeatures:
        """Concatenate chunks of N_i rows, right-padding the token axis to the longest chunk."""
        n = max(p.tokens.shape[1] for p in parts)
        return TokenFeatures(
            torch.cat([F.pad(p.tokens, (0, 0, 0, n - p.tokens.shape[1])) for p in parts]),  # (sum N_i, n, d)
            torch.cat([F.pad(p.mask, (0, n - p.mask.shape[1]), value=False) for p in parts]),  # (sum N_i, n)
            torch.cat([p.summary_index for p in parts]),  # (sum N_i,)
        )


def eot_index(input_ids: Tensor, attention_mask: Tensor, eos_token_id: int, check: bool = True) -> Tensor:
    """Position of the EOT token that the CLIP text tower pools at, (N, n) -> (N,) long.

    The one pooling rule of this code base, identical to transformers' CLIPTextModel:
    - eos_token_id == 2 (legacy OpenAI configs): argmax(input_ids), the EOT being the largest id;
    - otherwise: the first position holding eos_token_id among real tokens (attention_mask == 1).
    Raises ConfigError when a row has no EOS (the tokenizer and the text config disagree); `check=False`
    skips that test (it reads a value back from the device) for rows that `tokenize` made, which checked
    on the host that every row ends with EOS.
    """
    if eos_token_id == LEGACY_EOS_TOKEN_ID:
        return input_ids.argmax(dim=-1)  # (N,) first maximal id
    is_eos = (input_ids == eos_token_id) & attention_mask.bool()  # (N, n)
    found = is_eos.any(dim=-1)  # (N,)
    if check and not bool(found.all()):
        rows = torch.nonzero(~found).flatten()[:5].tolist()
        raise ConfigError(
            f"text rows {rows} contain no EOS token (id {eos_token_id}): tokenizer and text config disagree"
        )
    return is_eos.int().argmax(dim=-1)  # (N,) first EOS


def encode_text_tokens(clip: CLIPModel, input_ids: Tensor, attention_mask: Tensor,
                       eos_checked: bool = False) -> TokenFeatures:
    """H_T = text_projection(f_T(T)) for every token (eq. 3): (N, n) ids -> tokens (N, n, d), fp32."""
    with _towers(clip, input_ids.device):
        hidden = clip.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (N, n, h)
        tokens = clip.text_projection(hidden)  # (N, n, d)
    return TokenFeatures(
        tokens=tokens.float(),
        mask=attention_mask.bool(),
        summary_index=eot_index(input_ids, attention_mask, int(clip.config.text_config.eos_token_id),
                                check=not eos_checked),
    )


def encode_image_tokens(clip: CLIPModel, pixel_values: Tensor) -> TokenFeatures:
    """H_I = visual_projection(post_layernorm(f_I(I))) over all m tokens ([CLS] + patches) (eq. 3), fp32."""
    vision = clip.vision_model
    with _towers(clip, pixel_values.device):
        hidden = vision(pixel_values=pixel_values).last_hidden_state  # (N, m, h), not yet post-layernormed
        tokens = clip.visual_projection(vision.post_layernorm(hidden)).float()  # (N, m, d)
    n, m = tokens.shape[:2]
    return TokenFeatures(
        tokens=tokens,
        mask=torch.ones((n, m), dtype=torch.bool, device=tokens.device),
        summary_index=torch.zeros(n, dtype=torch.long, device=tokens.device),
    )


def encode_relation_text(clip: CLIPModel, input_ids: Tensor, attention_mask: Tensor,
                         eos_checked: bool = False) -> Tensor:
    """h_E = text_projection(f_T^EOT(e)): the EOT-pooled, projected relation text, (R, n) -> (R, d), fp32."""
    eot = eot_index(input_ids, attention_mask, int(clip.config.text_config.eos_token_id), check=not eos_checked)  # (R,)
    with _towers(clip, input_ids.device):
        hidden = clip.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (R, n, h)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), eot]  # (R, h)
        return clip.text_projection(pooled).float()  # (R, d)


def text_attention_implementation(clip: CLIPModel) -> str:
    """The attention implementation transformers resolved for the text tower ("sdpa", "eager", ...)."""
    return str(getattr(clip.text_model.config, "_attn_implementation", None) or "eager")


def supports_packed_text(clip: CLIPModel) -> bool:
    """The text tower is transformers' CLIP one (whose layers `encode_packed_text` runs) and its attention
    takes a prepared 4-d mask."""
    from transformers.models.clip.modeling_clip import CLIPEncoderLayer

    layers = getattr(getattr(clip.text_model, "encoder", None), "layers", None)
    return (
        text_attention_implementation(clip) in PACKING_IMPLEMENTATIONS
        and layers is not None and len(layers) > 0
        and all(type(layer).forward is CLIPEncoderLayer.forward for layer in layers)
        and hasattr(clip.text_model, "final_layer_norm")
    )


def _packed_text_states(clip: CLIPModel, packed: PackedText, keep: Tensor) -> Tensor:
    """Final-layer-normed text-tower states at the flat slots `keep` of `packed`: (K,) long -> (K, h).

    The tower's own modules in CLIPTextModel.forward's order (embeddings at each text's own positions,
    the encoder layers, final_layer_norm) with the packed mask. Only the slots read afterwards go
    through the last layer's MLP and the final norm: every slot still feeds the last attention (its
    keys and values), but a relation text's tokens other than EOT, and unused slots, end there.
    """
    tower = clip.text_model
    mask = packed.attention_mask(text_attention_implementation(clip), tower.embeddings.token_embedding.weight.dtype)
    hidden = tower.embeddings(input_ids=packed.input_ids, position_ids=packed.position_ids)  # (P, L, h)
    *body, last = tower.encoder.layers
    for layer in body:
        hidden = layer(hidden, mask)  # (P, L, h)
    hidden = hidden + last.self_attn(hidden_states=last.layer_norm1(hidden), attention_mask=mask)[0]  # (P, L, h)
    kept = hidden.reshape(-1, hidden.shape[-1]).index_select(0, keep)  # (K, h); backward index_add, not index_put
    kept = kept + last.mlp(last.layer_norm2(kept))  # CLIPEncoderLayer's second residual block, at `keep`
    return tower.final_layer_norm(kept)  # (K, h)


def encode_packed_text(
    clip: CLIPModel, packed: PackedText, item_input_ids: Tensor, item_attention_mask: Tensor,
    relation_input_ids: Tensor, relation_attention_mask: Tensor, eos_checked: bool = False,
) -> tuple[TokenFeatures, Tensor]:
    """H_T of U titles and h_E of R relation texts from one pass of the text tower over `packed`.

    `packed` holds the U titles then the R relation texts (pack_texts([items, relations], ...));
    the padded ids / masks give each text's EOT position. -> tokens (U, n, d) and h_E (R, d), equal
    to encode_text_tokens and encode_relation_text up to float rounding, fp32 (padding positions of the
    tokens repeat the title's first token; the mask excludes them, as it excludes padding there).
    Needs supports_packed_text(clip).
    """
    u, n = item_input_ids.shape
    r = relation_input_ids.shape[0]
    if packed.num_texts != u + r:
        raise ValueError(f"packed text holds {packed.num_texts} texts, the batch has {u} titles + {r} relations")
    eos = int(clip.config.text_config.eos_token_id)
    real = item_attention_mask.bool()  # (U, n)
    title_slots = packed.token_positions(0, u, n)[real]  # (T,) the real title tokens, row-major
    relation_slots = packed.starts[u:] + eot_index(relation_input_ids, relation_attention_mask, eos,
                                                   check=not eos_checked)  # (R,)
    with _towers(clip, item_input_ids.device):
        states = _packed_text_states(clip, packed, torch.cat([title_slots, relation_slots]))  # (K, h)
        projected = clip.text_projection(states).float()  # (K, d)
    order = torch.cumsum(real.flatten(), 0).view(u, n) - 1  # (U, n): row of each real token in `projected`
    order = torch.where(real, order, order[:, :1])  # padding reads its title's first token
    summary = eot_index(item_input_ids, item_attention_mask, eos, check=not eos_checked)  # (U,)
    tokens = projected.index_select(0, order.flatten()).view(u, n, -1)  # (U, n, d)
    text = TokenFeatures(tokens=tokens, mask=real, summary_index=summary)
    return text, projected[title_slots.shape[0]:]  # (U, n, d), (R, d)
