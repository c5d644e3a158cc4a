"""From sampled relation pairs (item indices) to the model's `PairBatch` (tensors).

Unique items and relations are gathered once per batch, so the backbone encodes each
item once however many rows mention it (once per rank under data parallelism). A rank's
batch holds the relations of the whole step: another rank's row may condition this rank's
candidates on them.

Two phases, so that a producer thread can run the first ahead of the training step
(rcml_core.train.prefetch):

- `build_host_batch`: everything on the host: unique items and relations, titles,
  relation texts and their packing, the images gathered from the cache into a staging
  buffer, index ranges checked;
- `upload`: non-blocking copies to the device (`inputs.to_device`, pinned on CUDA) and
  the images normalised there.

A training step thus reads nothing back from the device to build or validate its batch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from rcml_core.data.format.schema import INTRA_RELATION_ID, RelationalDataset
from rcml_core.model.batch import BatchShard, PairBatch
from rcml_core.model.packing import PackedText, pack_when_smaller
from rcml_core.runtime.inputs import ImageStaging, ModelInputs, to_device
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


@dataclass
class HostBatch:
    """A batch of relation pairs on the host, ready to upload (field meanings: model.batch.PairBatch)."""

    item_input_ids: torch.Tensor  # (U, n) long
    item_attention_mask: torch.Tensor  # (U, n) long
    images: torch.Tensor  # (U, S, S, 3) uint8, a view of the staging buffer
    relation_input_ids: torch.Tensor  # (R, n_e) long
    relation_attention_mask: torch.Tensor  # (R, n_e) long
    src: np.ndarray  # (B,) int64 in [0, U)
    dst: np.ndarray  # (B,) int64 in [0, U)
    rel: np.ndarray  # (B,) int64 in [0, R)
    intra: np.ndarray  # (B,) bool
    negative_mask: np.ndarray  # (B, C) bool
    swap_relations: np.ndarray | None  # (R',) int64 in [0, R)
    swap_exclude: np.ndarray | None  # (B, R') bool
    packed_text: PackedText | None
    shard: tuple[int, int, int, int] | None = None  # (rank, world_size, step rows, step inter rows)
    relation_intra: np.ndarray | None = None  # (R,) bool, with shard


def build_host_batch(
    inputs: ModelInputs,
    batch: PairIndexBatch,
    staging: ImageStaging,
    relation_negatives: bool = False,
    pair_relations: PairRelations | None = None,
) -> HostBatch:
    """The host half of `make_pair_batch`: every tensor built and every index range checked on the host.

    With `relation_negatives`, every inter relation of the dataset is a candidate swap relation;
    for row b it is excluded when the row's pair carries it (or the row is an intra pair).
    """
    items, inverse = np.unique(np.concatenate([batch.src, batch.dst]), return_inverse=True)
    b = len(batch)
    src_local, dst_local = inverse[:b], inverse[b:]
    swap_rel = np.arange(1, len(inputs.relation_texts), dtype=np.int64) if relation_negatives else np.empty(0, np.int64)
    step_rel = batch.step_relations  # (C,): this rank's rows' relations, and under DDP the other ranks'
    relations, rel_local = np.unique(np.concatenate([batch.relation, step_rel, swap_rel]), return_inverse=True)
    title_ids, title_mask = inputs.titles(items)
    rel_ids, rel_mask = inputs.relations(relations)
    packed = pack_when_smaller([title_ids, rel_ids], [title_mask, rel_mask])  # one text-tower pass for both
    # here, on the host: PairBatch's own range checks would read min / max back from the device
    _check_ranges(src=(src_local, len(items)), dst=(dst_local, len(items)), rel=(rel_local, len(relations)))
    swap_relations = swap_exclude = None
    if relation_negatives:
        if pair_relations is None:
            raise ValueError("relation_negatives needs the training graph's pair relations")
        carried = pair_relations.carries(batch.src[:, None], batch.dst[:, None], swap_rel[None, :])  # (B, R')
        own = batch.relation[:, None] == swap_rel[None, :]  # (B, R')
        swap_exclude = carried | own | (batch.relation == INTRA_RELATION_ID)[:, None]
        swap_relations = rel_local[b + len(step_rel):]
    shard = None
    if batch.world_size > 1:
        shard = (batch.rank, batch.world_size, len(step_rel), int((step_rel != INTRA_RELATION_ID).sum()))
    return HostBatch(
        item_input_ids=title_ids, item_attention_mask=title_mask,
        images=staging.gather(inputs.images, torch.from_numpy(items)),
        relation_input_ids=rel_ids, relation_attention_mask=rel_mask,
        src=src_local, dst=dst_local, rel=rel_local[:b], intra=batch.intra, negative_mask=batch.false_negative,
        swap_relations=swap_relations, swap_exclude=swap_exclude, packed_text=packed,
        shard=shard, relation_intra=None if shard is None else relations == INTRA_RELATION_ID,
    )


def upload(host: HostBatch, inputs: ModelInputs, device: torch.device, staging: ImageStaging) -> PairBatch:
    """The device half of `make_pair_batch`: non-blocking copies (pinned on CUDA), images normalised there."""
    up = lambda x, dtype: to_device(torch.as_tensor(x, dtype=dtype), device)  # noqa: E731
    return PairBatch(
        item_input_ids=to_device(host.item_input_ids, device),
        item_attention_mask=to_device(host.item_attention_mask, device),
        pixel_values=inputs.normalise(staging.to(host.images, device)),
        relation_input_ids=to_device(host.relation_input_ids, device),
        relation_attention_mask=to_device(host.relation_attention_mask, device),
        src=up(host.src, torch.long),
        dst=up(host.dst, torch.long),
        rel=up(host.rel, torch.long),
        intra=up(host.intra, torch.bool),
        negative_mask=up(host.negative_mask, torch.bool),
        swap_relations=None if host.swap_relations is None else up(host.swap_relations, torch.long),
        swap_exclude=None if host.swap_exclude is None else up(host.swap_exclude, torch.bool),
        packed_text=None if host.packed_text is None else PackedText(
            **{f.name: to_device(getattr(host.packed_text, f.name), device) for f in fields(PackedText)}),
        checked_on_host=True,  # ranges: _check_ranges; EOS: every token row comes from `tokenize`
        shard=None if host.shard is None else BatchShard(*host.shard, relation_intra=up(host.relation_intra,
                                                                                       torch.bool)),
    )


def make_pair_batch(
    inputs: ModelInputs,
    batch: PairIndexBatch,
    device: torch.device,
    relation_negatives: bool = False,
    pair_relations: PairRelations | None = None,
    staging: ImageStaging | None = None,
) -> PairBatch:
    """Tensors for one batch of relation pairs, titles and relation texts also packed (model.packing).

    staging: the image staging buffer of the thread building the batch (default: the inputs' own).
    """
    device = torch.device(device)
    staging = staging if staging is not None else inputs.staging(device)
    host = build_host_batch(inputs, batch, staging, relation_negatives, pair_relations)
    return upload(host, inputs, device, staging)


def _check_ranges(**indices: tuple[np.ndarray, int]) -> None:
    """Every index array lies in [0, size): name=(array, size)."""
    for name, (index, size) in indices.items():
        if len(index) and (int(index.min()) < 0 or int(index.max()) >= size):
            raise ValueError(f"PairBatch.{name}: indices must be in [0, {size}), got [{index.min()}, {index.max()}]")
