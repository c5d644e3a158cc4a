"""`RCMLModel`: CLIP token features conditioned on relation texts (paper eq. 3-6).

    H_T = f_T(T), H_I = MLP(f_I(I))                 eq. 3   encode_items (backbone once per unique item)
    h_E = f_T^EOT(e)                                        encode_relations
    q   = (W_Q h_E)^T (W_K H) / sqrt(d)             eq. 6   attention.relation_scores
    A   = mix(q, B, beta)                           eq. 5   attention.attention_weights
    z   = L2norm(A (W_V H)^T W_o)                   eq. 4   attention.pool / conditioned_cosine
    (B, B) similarities of a batch                          conditioning.pair_similarities (table | gram)

Initialisation: W_V = W_o = I and the token features are CLIP's own projections, so with beta = 1 in
"prob" mode an intra row's z is exactly CLIP's normalised text_embeds / image_embeds.

The CLIP baseline (`method=clip`) trains on intra rows at beta = 1 in "prob" mode, where the attention is
the one-hot summary token and z = normalize(h W_V^T W_o). Its relation attention is frozen
(`freeze_attention`): with W_V = W_o = I kept, the trained z is normalize(h), the backbone's own
embedding, which is exactly what its evaluation reads (PlainEmbedder, ConcatEmbedder, clip_embeddings,
the validity features), as in the paper's baseline. Left trainable, W_V^T W_o would drift from I and the
baseline would be scored on an embedding it was not trained on.


Precision: only the backbone's towers may run in bf16 (`set_encoder_autocast`, encoders.py); they return
fp32 features, and the conditioning, the similarities and the loss run in fp32 with autocast off, even
under a caller's autocast. bf16 cosines move in steps of 2^-8, a logit step of 0.039 at tau = 0.1.

Trainable parameters (those with `requires_grad`):
  full backbone:   everything except clip.logit_scale (the temperature tau is fixed by LossConfig).
  frozen_backbone: attention.w_q, attention.w_k, attention.w_v, attention.w_o,
                   clip.text_projection.weight, clip.visual_projection.weight;
                   clip.text_model and clip.vision_model (incl. the vision post_layernorm) are frozen.
  freeze_attention: attention.w_q, w_k, w_v, w_o are left out (the CLIP baseline).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rcml_core.config import check_choice, check_flag, check_range
from rcml_core.errors import ConfigError
from rcml_core.distributed import combine_shares, gather_with_grad
from rcml_core.loss import LossConfig, LossOutput, RowShare, rcml_loss
from rcml_core.model import conditioning
from rcml_core.model.attention import COSINE_EPS, SUMMARY_MIXES
from rcml_core.model.backbone import Backbone
from rcml_core.model.batch import PairBatch
from rcml_core.model.encoders import (
    TokenFeatures,
    encode_image_tokens,
    encode_packed_text,
    encode_relation_text,
    encode_text_tokens,
    set_encoder_autocast,
    supports_packed_text,
)
from rcml_core.model.outputs import (
    ConditionedEmbeddings,
    ItemFeatures,
    PairSimilarities,
)


@dataclass(frozen=True)
class RCMLConfig:
    beta: float = 0.6  # balance of relation attention (0) and the summary token (1), [0, 1]
    summary_mix: str = "prob"  # "prob" (exactly CLIP at beta = 1) | "logit" (eq. 5 literally)
    frozen_backbone: bool = False  # train only the attention module and the two projections
    init_seed: int = 0  # seed of the random W_Q, W_K
    freeze_attention: bool = False  # keep W_Q, W_K, W_V, W_o at init (the CLIP baseline: z = normalize(h))

    def __post_init__(self) -> None:
        check_range("model.beta", self.beta, 0, 1)
        check_choice("model.summary_mix", self.summary_mix, SUMMARY_MIXES)
        check_flag("model.frozen_backbone", self.frozen_backbone)
        check_range("model.init_seed", self.init_seed, 0, integer=True)
        check_flag("model.freeze_attention", self.freeze_attention)


_Method = TypeVar("_Method", bound=Callable)


def _fp32(method: _Method) -> _Method:
    """Run an RCMLModel method with autocast off: fp32 features in, fp32 math throughout."""

    @functools.wraps(method)
    def wrapper(self: RCMLModel, *args, **kwargs):
        with torch.autocast(device_type=self.attention.w_q.device.type, enabled=False):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class RelationAttention(nn.Module):
    """The d x d projections of eq. 4 and 6, without bias.

    W_Q, W_K ~ N(0, 1/d) (seeded); W_V = W_o = I at init, so the values start as the token features.
    """

    def __init__(self, width: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        std = width**-0.5
        self.w_q = nn.Parameter(torch.randn(width, width, generator=generator) * std)
        self.w_k = nn.Parameter(torch.randn(width, width, generator=generator) * std)
        self.w_v = nn.Parameter(torch.eye(width))
        self.w_o = nn.Parameter(torch.eye(width))

    def query(self, relations: Tensor) -> Tensor:
        """h_E W_Q^T W_K, (R, d) -> (R, d): W_K folded into the query, so that the scores of eq. 6,
        (W_Q h_E)^T (W_K H_t), are query . H_t and the keys never need computing."""
        return (relations @ self.w_q.T) @ self.w_k

    def value_map(self) -> Tensor:
        """W_V^T W_o, (d, d): the values of eq. 4 are H W_V^T W_o with tokens as rows."""
        return self.w_v.T @ self.w_o


class RCMLModel(nn.Module):
    def __init__(self, backbone: Backbone, config: RCMLConfig) -> None:
        super().__init__()
        self.backbone = backbone  # tokenizer and image settings travel with the model
        self.config = config
        self.clip = backbone.clip
        self.attention = RelationAttention(backbone.width, config.init_seed)
        self.clip.logit_scale.requires_grad_(False)  # unused: the loss has a fixed temperature
        if config.frozen_backbone:
            self.clip.text_model.requires_grad_(False)
            self.clip.vision_model.requires_grad_(False)
        if config.freeze_attention:  # the CLIP baseline: see the module docstring
            self.attention.requires_grad_(False)

    def set_encoder_autocast(self, dtype: torch.dtype | None) -> None:
        """Run the backbone's towers under autocast to `dtype` (bf16 on CUDA by default); None: fp32."""
        set_encoder_autocast(self.clip, dtype)

    # ---- encoders: the backbone runs once per unique item / relation -------------------------------

    def encode_items(self, input_ids: Tensor, attention_mask: Tensor, pixel_values: Tensor,
                     eos_checked: bool = False) -> ItemFeatures:
        """Token features of U unique items: ids (U, n), pixels (U, 3, S, S) -> text (U, n, d), image (U, m, d).
        eos_checked: the rows are known to end with EOS (encoders.eot_index)."""
        return ItemFeatures(
            text=encode_text_tokens(self.clip, input_ids, attention_mask, eos_checked),
            image=encode_image_tokens(self.clip, pixel_values),
        )

    def encode_relations(self, input_ids: Tensor, attention_mask: Tensor, eos_checked: bool = False) -> Tensor:
        """h_E of R unique relation texts: (R, n_e) -> (R, d)."""
        return encode_relation_text(self.clip, input_ids, attention_mask, eos_checked)

    # ---- conditioning (the math lives in attention.py and conditioning.py) --------------------------

    def _mix(self) -> dict:
        return {"beta": self.config.beta, "summary_mix": self.config.summary_mix}

    @_fp32
    def pair_similarities(
        self, items: ItemFeatures, relations: Tensor, src: Tensor, dst: Tensor, rel: Tensor, intra: Tensor,
        strategy: str = "auto",
    ) -> PairSimilarities:
        """(B, B) cosines per direction: [r, s] = cos(z_x^{src_r}(e_r), z_y^{dst_s}(e_r)).

        items: U unique items; relations (R, d) h_E; src, dst (B,) long item rows; rel (B,) long
        relation rows; intra (B,) bool. Row r's candidates are the B targets dst_1..dst_B, each
        conditioned on e_r (with the summary term when row r is intra); the positive is the diagonal.
        strategy: "auto" (cheaper of the two exact ones), "table" or "gram" (conditioning.py).
        """
        return conditioning.pair_similarities(
            items.text, items.image, self.attention.query(relations), self.attention.value_map(), src, dst, rel,
            intra, strategy=strategy, **self._mix(),
        )

    @_fp32
    def relation_table(self, items: ItemFeatures, relations: Tensor, intra: Tensor) -> ConditionedEmbeddings:
        """Unit z of every item under every relation: relations (R, d), intra (R,) bool -> text, image (R, U, d).

        intra[k]: relation k is the intra-sample one (its summary term applies). For evaluation over
        many relation types, and the relation-negatives loss.
        """
        query, value_map = self.attention.query(relations), self.attention.value_map()
        return ConditionedEmbeddings(
            text=conditioning.relation_table(items.text, query, value_map, intra, **self._mix()),
            image=conditioning.relation_table(items.image, query, value_map, intra, **self._mix()),
        )

    @_fp32
    def relation_swap_similarities(
        self, items: ItemFeatures, relations: Tensor, src: Tensor, dst: Tensor, rel_options: Tensor,
        option_intra: Tensor | None = None,
    ) -> PairSimilarities:
        """(B, R') cosines of each row's pair under every option: [b, j] = cos(z_x^{src_b}(e'_j), z_y^{dst_b}(e'_j)).

        Both sides are conditioned on e'_j (the score relation-type prediction ranks). rel_options (R',)
        long indexes `relations`; option_intra (R',) bool marks intra options (default: none).
        """
        if option_intra is None:
            option_intra = torch.zeros(rel_options.shape[0], dtype=torch.bool, device=rel_options.device)
        table = self.relation_table(items, relations[rel_options], option_intra)  # (R', U, d) each
        return conditioning.swap_similarities(table.text, table.image, src, dst)

    @_fp32
    def condition(
        self, items: ItemFeatures, relations: Tensor, item_index: Tensor, relation_index: Tensor, intra: Tensor
    ) -> ConditionedEmbeddings:
        """Unit z_T, z_I of item item_index[q] under relation relation_index[q] (evaluation): (Q,) -> (Q, d)."""
        query = self.attention.query(relations)[relation_index]  # (Q, d)
        value_map = self.attention.value_map()
        return ConditionedEmbeddings(
            text=conditioning.paired_condition(items.text, query, value_map, item_index, intra, **self._mix()),
            image=conditioning.paired_condition(items.image, query, value_map, item_index, intra, **self._mix()),
        )

    @staticmethod
    def clip_embeddings(items: ItemFeatures) -> ConditionedEmbeddings:
        """Plain CLIP embeddings (unit text_embeds / image_embeds) of the items, (U, d) each."""

        def summary(f: TokenFeatures) -> Tensor:
            token = f.tokens[torch.arange(len(f), device=f.tokens.device), f.summary_index]  # (U, d)
            return F.normalize(token, dim=-1, eps=COSINE_EPS)

        return ConditionedEmbeddings(text=summary(items.text), image=summary(items.image))

    # ---- one training step -------------------------------------------------------------------------

    def _encode_batch(self, batch: PairBatch) -> tuple[ItemFeatures, Tensor]:
        """The batch's items and relations; titles and relation texts in one packed text-tower call when
        the batch carries them packed and the tower's attention takes a packed mask, else two padded calls."""
        checked = batch.checked_on_host
        if batch.packed_text is not None and supports_packed_text(self.clip):
            text, relations = encode_packed_text(self.clip, batch.packed_text, batch.item_input_ids,
                                                 batch.item_attention_mask, batch.relation_input_ids,
                                                 batch.relation_attention_mask, eos_checked=checked)
            return ItemFeatures(text=text, image=encode_image_tokens(self.clip, batch.pixel_values)), relations
        items = self.encode_items(batch.item_input_ids, batch.item_attention_mask, batch.pixel_values, checked)
        return items, self.encode_relations(batch.relation_input_ids, batch.relation_attention_mask, checked)

    def forward(self, batch: PairBatch) -> PairSimilarities:
        """Encode the batch's unique items and relations once, then the (B, B) pair similarities."""
        items, relations = self._encode_batch(batch)
        return self.pair_similarities(items, relations, batch.src, batch.dst, batch.rel, batch.intra)

    def loss(self, batch: PairBatch, config: LossConfig) -> LossOutput:
        """Eq. 1 on `batch` with one encoding pass. With config.relation_negatives the batch must carry
        swap_relations / swap_exclude; each option is conditioned as the kind of relation the rows use
        it as (the intra relation with its summary term)."""
        items, relations = self._encode_batch(batch)
        return self._loss_from_features(items, relations, batch, config)

    @_fp32
    def _loss_from_features(self, items: ItemFeatures, relations: Tensor, batch: PairBatch,
                            config: LossConfig) -> LossOutput:
        shard = batch.shard
        if shard is None:
            sims = self.pair_similarities(items, relations, batch.src, batch.dst, batch.rel, batch.intra)
            kinds = None
        else:  # one rank of a data-parallel step: its rows against every rank's candidates
            kinds = shard.relation_intra  # (R,) the step's relations, some used by other ranks' rows only
            table = self.relation_table(items, relations, kinds)  # (R, U, d) each
            sims = conditioning.step_pair_similarities(table.text, table.image, batch.src, batch.dst, batch.rel,
                                                       gather_with_grad)  # (B, C)
        swap = None
        if config.relation_negatives:
            if batch.swap_relations is None:
                raise ConfigError("loss.relation_negatives is set but the batch has no swap_relations")
            if kinds is None:
                kinds = conditioning.relation_kinds(batch.num_relations, batch.rel, batch.intra)  # (R,)
            swap = self.relation_swap_similarities(items, relations, batch.src, batch.dst, batch.swap_relations,
                                                   kinds[batch.swap_relations])
        share = None if shard is None else RowShare(shard.offset, shard.step_rows, shard.step_inter_rows)
        out = rcml_loss(sims, batch.negative_mask, batch.intra, config, swap=swap,
                        swap_exclude=batch.swap_exclude if swap is not None else None, share=share)
        return out if shard is None else combine_shares(out, shard.world_size)
