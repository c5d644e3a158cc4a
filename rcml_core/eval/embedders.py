"""Item embeddings under a relation, one class per way of producing them.

Every evaluation task asks one question: "the unit text and image embeddings of these
items under relation r". The answer depends on the model:

- `RCMLEmbedder`: the backbone runs once per item (token cache); each relation then
  conditions the cached tokens with the relation-guided attention (eq. 4-6).
- `ConcatEmbedder`: the CLIP baseline of paper 4.3.1: the relation text is appended
  to the item's title and the text tower runs on that; the image embedding is CLIP's.
- `PlainEmbedder`: CLIP's embeddings, ignoring the relation ("CLIP fine-tuned" for `method=clip`,
  the training-free score on the untrained backbone, validity features of baselines).

For `method=clip` these are the embeddings the baseline was trained on: the relation attention is
frozen at W_V = W_o = I there (rcml_core.model.rcml), so the training-time z of an intra row is
normalize(h) exactly, the summary token PlainEmbedder and ConcatEmbedder read.

All of them also give `relation_vector(r)`: the unit CLIP embedding of the relation text.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rcml_core.data.schema import INTRA_RELATION_ID
from rcml_core.model.encoders import TokenFeatures, encode_relation_text
from rcml_core.model.outputs import ItemFeatures
from rcml_core.model.rcml import RCMLModel
from rcml_core.model.tokenizer import tokenize
from rcml_core.train.inputs import ModelInputs


class Embedder(Protocol):
    def embed(self, items: np.ndarray, relation: int) -> tuple[Tensor, Tensor]:
        """(U,) sorted unique item indices -> unit text (U, d), unit image (U, d) under `relation`."""
        ...

    def embed_pairs(self, items: np.ndarray, relations: np.ndarray) -> tuple[Tensor, Tensor]:
        """Aligned (P,) item indices and (P,) relation ids -> unit text (P, d), unit image (P, d): item
        items[p] under relations[p]. Lets a task ask for every (item, relation) it needs in one call."""
        ...

    def relation_vector(self, relation: int) -> Tensor:
        """(d,) unit embedding of the relation text."""
        ...


def embed_pairs_by_relation(embedder: Embedder, items: np.ndarray, relations: np.ndarray) -> tuple[Tensor, Tensor]:
    """`Embedder.embed_pairs` through `embed`, one call per distinct relation (for embedders whose
    cost is per relation anyway, such as the concatenated-text baseline)."""
    text: Tensor | None = None
    image: Tensor | None = None
    for rel in np.unique(relations):
        rows = np.flatnonzero(relations == rel)
        pool = np.unique(items[rows])
        t, i = embedder.embed(pool, int(rel))
        pos = torch.as_tensor(np.searchsorted(pool, items[rows]), device=t.device)
        if text is None or image is None:
            text = t.new_empty((len(items), t.shape[1]))
            image = i.new_empty((len(items), i.shape[1]))
        idx = torch.as_tensor(rows, device=t.device)
        text[idx], image[idx] = t[pos], i[pos]
    if text is None or image is None:
        raise ValueError("embed_pairs: no pairs given")
    return text, image


def _cat_token_features(parts: list[TokenFeatures]) -> TokenFeatures:
    """Concatenate per-chunk token features, right-padding the token axis to the longest chunk."""
    n = max(p.tokens.shape[1] for p in parts)
    tokens, masks = [], []
    for p in parts:
        pad = n - p.tokens.shape[1]
        tokens.append(F.pad(p.tokens, (0, 0, 0, pad)))  # (N_i, n, d)
        masks.append(F.pad(p.mask, (0, pad), value=False))  # (N_i, n)
    return TokenFeatures(torch.cat(tokens), torch.cat(masks), torch.cat([p.summary_index for p in parts]))


class _ItemPool:
    """Maps dataset item indices to rows of a feature cache (sorted, unique)."""

    def __init__(self, items: np.ndarray) -> None:
        self.items = np.unique(np.asarray(items, dtype=np.int64))

    def rows(self, items: np.ndarray) -> np.ndarray:
        rows = np.searchsorted(self.items, items)
        ok = (rows < len(self.items)) & (self.items[np.minimum(rows, len(self.items) - 1)] == items)
        if not ok.all():
            raise KeyError(f"items {np.asarray(items)[~ok][:5].tolist()} were not encoded")
        return rows


@torch.no_grad()
def encode_item_pool(model: RCMLModel, inputs: ModelInputs, items: np.ndarray, batch_size: int, device: torch.device) -> ItemFeatures:
    """Token features of `items` (sorted unique), the backbone run once per item, in chunks."""
    texts, images = [], []
    for start in range(0, len(items), batch_size):
        chunk = inputs.items(items[start : start + batch_size], device)
        feats = model.encode_items(chunk.input_ids, chunk.attention_mask, chunk.pixel_values)
        texts.append(feats.text)
        images.append(feats.image)
    return ItemFeatures(text=_cat_token_features(texts), image=_cat_token_features(images))


@torch.no_grad()
def relation_embeddings(model: RCMLModel, inputs: ModelInputs, device: torch.device) -> Tensor:
    """(R, d) h_E of every relation of the dataset (in the run's text mode)."""
    ids, mask = inputs.relations(np.arange(len(inputs.relation_texts)), device)
    return model.encode_relations(ids, mask)


# Pairs conditioned per call: bounds the gathered (pairs, tokens, d) features (4096 x 77 x 512 fp32 = 0.6 GiB).
PAIR_CHUNK = 4096


class RCMLEmbedder:
    def __init__(self, model: RCMLModel, inputs: ModelInputs, items: np.ndarray, batch_size: int, device: torch.device) -> None:
        self.model = model
        self.pool = _ItemPool(items)
        self.features = encode_item_pool(model, inputs, self.pool.items, batch_size, device)
        self.relations = relation_embeddings(model, inputs, device)
        self.device = device

    @torch.no_grad()
    def embed(self, items: np.ndarray, relation: int) -> tuple[Tensor, Tensor]:
        rows = torch.as_tensor(self.pool.rows(items), device=self.device)
        rel = torch.full_like(rows, relation)
        intra = torch.full_like(rows, relation == INTRA_RELATION_ID, dtype=torch.bool)
        out = self.model.condition(self.features, self.relations, rows, rel, intra)
        return out.text.float(), out.image.float()

    @torch.no_grad()
    def embed_pairs(self, items: np.ndarray, relations: np.ndarray) -> tuple[Tensor, Tensor]:
        """Every (item, relation) pair conditioned in batched calls of PAIR_CHUNK pairs, whatever the
        number of distinct relations (the backbone already ran once per item)."""
        rows = torch.as_tensor(self.pool.rows(items), device=self.device)  # (P,)
        rel = torch.as_tensor(np.asarray(relations, dtype=np.int64), device=self.device)  # (P,)
        texts, images = [], []
        for start in range(0, len(rows), PAIR_CHUNK):
            r, e = rows[start : start + PAIR_CHUNK], rel[start : start + PAIR_CHUNK]
            out = self.model.condition(self.features, self.relations, r, e, e == INTRA_RELATION_ID)
            texts.append(out.text.float())
            images.append(out.image.float())
        return torch.cat(texts), torch.cat(images)

    def relation_vector(self, relation: int) -> Tensor:
        return F.normalize(self.relations[relation].float(), dim=-1)


@torch.no_grad()
def clip_text_embeddings(model: RCMLModel, inputs: ModelInputs, texts: list[str], batch_size: int, device: torch.device) -> Tensor:
    """(N, d) unit CLIP text embeddings of arbitrary texts (EOT-pooled, projected)."""
    out = []
    for start in range(0, len(texts), batch_size):
        tok = tokenize(inputs.backbone, texts[start : start + batch_size])
        out.append(encode_relation_text(model.backbone.clip, tok.input_ids.to(device), tok.attention_mask.to(device)))
    return F.normalize(torch.cat(out).float(), dim=-1)


class PlainEmbedder:
    """CLIP's own embeddings; the relation is ignored."""

    def __init__(self, model: RCMLModel, inputs: ModelInputs, items: np.ndarray, batch_size: int, device: torch.device) -> None:
        self.pool = _ItemPool(items)
        feats = encode_item_pool(model, inputs, self.pool.items, batch_size, device)
        plain = model.clip_embeddings(feats)
        self.text, self.image = plain.text.float(), plain.image.float()
        self.relations = clip_text_embeddings(model, inputs, inputs.relation_texts, batch_size, device)

    def plain_view(self) -> PlainEmbedder:
        """A PlainEmbedder sharing these embeddings (no backbone pass): for a ConcatEmbedder, the same
        items' CLIP embeddings with the relation ignored."""
        view = PlainEmbedder.__new__(PlainEmbedder)
        view.pool, view.text, view.image, view.relations = self.pool, self.text, self.image, self.relations
        return view

    def embed(self, items: np.ndarray, relation: int) -> tuple[Tensor, Tensor]:
        rows = torch.as_tensor(self.pool.rows(items), device=self.text.device)
        return self.text[rows], self.image[rows]

    def embed_pairs(self, items: np.ndarray, relations: np.ndarray) -> tuple[Tensor, Tensor]:
        return self.embed(items, INTRA_RELATION_ID)  # the relation is ignored

    def relation_vector(self, relation: int) -> Tensor:
        return self.relations[relation]


class ConcatEmbedder(PlainEmbedder):
    """Paper 4.3.1 baseline input: title + relation text through the text tower; CLIP image embedding."""

    def __init__(self, model: RCMLModel, inputs: ModelInputs, items: np.ndarray, batch_size: int, device: torch.device) -> None:
        super().__init__(model, inputs, items, batch_size, device)
        self.model, self.inputs, self.batch_size, self.device = model, inputs, batch_size, device
        self._cache: dict[int, Tensor] = {}  # relation -> (len(pool), d), filled lazily per relation

    def embed(self, items: np.ndarray, relation: int) -> tuple[Tensor, Tensor]:
        if relation == INTRA_RELATION_ID:
            return super().embed(items, relation)
        if relation not in self._cache:
            texts = self.inputs.concat_texts(self.pool.items, relation)
            self._cache[relation] = clip_text_embeddings(self.model, self.inputs, texts, self.batch_size, self.device)
        rows = torch.as_tensor(self.pool.rows(items), device=self.text.device)
        return self._cache[relation][rows], self.image[rows]

    def embed_pairs(self, items: np.ndarray, relations: np.ndarray) -> tuple[Tensor, Tensor]:
        return embed_pairs_by_relation(self, items, relations)  # one text-tower pass per relation anyway
