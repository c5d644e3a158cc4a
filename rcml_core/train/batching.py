"""From sampled relation pairs (item indices) to the model's `PairBatch` (tensors).

Unique items and relations are gathered once per batch, so the backbone encodes each
item once however many rows mention it (DESIGN §2 Cost).
"""

from __future__ import annotations

import numpy as np
import torch

from rcml_core.data.schema import INTRA_RELATION_ID, RelationalDataset
from rcml_core.model.batch import PairBatch
from rcml_core.model.packing import pack_when_smaller
from rcml_core.train.inputs import ModelInputs
from rcml_core.train.sampler import PairIndexBatch


class PairRelations:
    """Which relations each (unordered) item pair carries in a split: vectorised membership."""

    def __init__(self, dataset: RelationalDataset, split: str = "train") -> None:
        edges = dataset.split_edges(split)
        self.n_items = dataset.n_items
        self.n_rel = dataset.n_relations
        lo = np.minimum(edges["src_idx"].to_numpy(np.int64), edges["dst_idx"].to_numpy(np.int64))
        hi = np.maximum(edges["src_idx"].to_numpy(np.int64), edges["dst_idx"].to_numpy(np.int64))
        self.keys = np.unique((lo * self.n_items + hi) * self.n_rel + edges["relation_id"].to_numpy(np.int64))

    def carries(self, a: np.ndarray, b: np.ndarray, relation: np.ndarray) -> np.ndarray:
        """Broadcast test: does pair (a, b) carry `relation`?"""
        a, b, relation = np.broadcast_arrays(*(np.asarray(x, dtype=np.int64) for x in (a, b, relation)))
        key = (np.minimum(a, b) * self.n_items + np.maximum(a, b)) * self.n_rel + relation
        if not len(self.keys):
            return np.zeros(key.shape, dtype=bool)
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        return self.keys[pos] == key


def make_pair_batch(
    inputs: ModelInputs,
    batch: PairIndexBatch,
    device: torch.device,
    relation_negatives: bool = False,
    pair_relations: PairRelations | None = None,
) -> PairBatch:
    """Tensors for one batch of relation pairs, titles and relation texts also packed (model.packing).

    With `relation_negatives`, every inter relation of the dataset is a candidate swap relation;
    for row b it is excluded when the row's pair carries it (or the row is an intra pair).
    """
    items, inverse = np.unique(np.concatenate([batch.src, batch.dst]), return_inverse=True)
    b = len(batch)
    src_local, dst_local = inverse[:b], inverse[b:]
    swap_rel = np.arange(1, len(inputs.relation_texts), dtype=np.int64) if relation_negatives else np.empty(0, np.int64)
    relations, rel_local = np.unique(np.concatenate([batch.relation, swap_rel]), return_inverse=True)
    title_ids, title_mask = inputs.titles(items)  # host
    rel_ids, rel_mask = inputs.relations(relations)  # host
    packed = pack_when_smaller([title_ids, rel_ids], [title_mask, rel_mask])  # one text-tower pass for both
    tensors = inputs.items(items, device, titles=(title_ids, title_mask))
    swap_relations = swap_exclude = None
    if relation_negatives:
        if pair_relations is None:
            raise ValueError("relation_negatives needs the training graph's pair relations")
        carried = pair_relations.carries(batch.src[:, None], batch.dst[:, None], swap_rel[None, :])  # (B, R')
        exclude = carried | (batch.relation[:, None] == swap_rel[None, :]) | (batch.relation == INTRA_RELATION_ID)[:, None]
        swap_relations = torch.as_tensor(rel_local[b:], dtype=torch.long, device=device)
        swap_exclude = torch.as_tensor(exclude, dtype=torch.bool, device=device)
    as_long = lambda x: torch.as_tensor(x, dtype=torch.long, device=device)  # noqa: E731
    return PairBatch(
        item_input_ids=tensors.input_ids,
        item_attention_mask=tensors.attention_mask,
        pixel_values=tensors.pixel_values,
        relation_input_ids=rel_ids.to(device),
        relation_attention_mask=rel_mask.to(device),
        src=as_long(src_local),
        dst=as_long(dst_local),
        rel=as_long(rel_local[:b]),
        intra=torch.as_tensor(batch.intra, dtype=torch.bool, device=device),
        negative_mask=torch.as_tensor(batch.false_negative, dtype=torch.bool, device=device),
        swap_relations=swap_relations,
        swap_exclude=swap_exclude,
        packed_text=packed.to(device) if packed is not None else None,
    )
