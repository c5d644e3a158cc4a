"""`PairBatch`: the model's input for one step, built by the batch sampler.

A batch holds B relation pairs (rows) over U unique items and R unique relation texts. The backbone
encodes each unique item and relation once; rows index them. Row r = (src_r, dst_r, rel_r): anchor
item src_r, positive dst_r, relation rel_r; intra rows have src_r == dst_r under the intra relation.

Data parallel, `shard` places the batch in a step's global batch: these B rows are one rank's slice
of C = B x world_size rows, and every row's candidates are the C targets of the whole step
(`negative_mask` is (B, C); rcml_core.distributed gathers the other ranks' candidates).

`packed_text` (optional) holds the same U titles and R relation texts packed padding-free
(rcml_core.model.packing) so that the text tower encodes them in one call; the padded ids stay,
for the EOT positions and for towers whose attention cannot take a packed mask.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from rcml_core.model.packing import PackedText


@dataclass
class BatchShard:
    """This rank's place in a data-parallel step: rows rank B .. (rank + 1) B - 1 of `step_rows`."""

    rank: int
    world_size: int
    step_rows: int  # C: rows of the step's global batch (B x world_size)
    step_inter_rows: int  # inter-sample rows among them (the tt / ii terms average over these)
    # (R,) bool: relation k of the batch is the intra-sample one. The batch's relations are those of the whole
    # step: a row on another rank may condition this rank's candidates on a relation no local row uses.
    relation_intra: Tensor

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world_size or self.step_rows % self.world_size:
            raise ValueError(f"BatchShard: rank {self.rank} of {self.world_size} with {self.step_rows} step rows")
        if not 0 <= self.step_inter_rows <= self.step_rows:
            raise ValueError(f"BatchShard.step_inter_rows must be in [0, {self.step_rows}], got {self.step_inter_rows}")

    @property
    def offset(self) -> int:
        """The column of row 0's positive among the step's candidates."""
        return self.rank * (self.step_rows // self.world_size)


@dataclass
class PairBatch:
    item_input_ids: Tensor  # (U, n) long, tokenized item texts (rcml_core.model.tokenizer.tokenize)
    item_attention_mask: Tensor  # (U, n) long
    pixel_values: Tensor  # (U, 3, S, S) float, normalised with the backbone's image mean / std
    relation_input_ids: Tensor  # (R, n_e) long, tokenized unique relation texts
    relation_attention_mask: Tensor  # (R, n_e) long
    src: Tensor  # (B,) long in [0, U): anchor item of each row
    dst: Tensor  # (B,) long in [0, U): positive item of each row; the candidates of every row
    rel: Tensor  # (B,) long in [0, R): relation of each row
    intra: Tensor  # (B,) bool: row is an intra-sample pair (src == dst, intra relation)
    negative_mask: Tensor  # (B, C) bool: True where candidate s is a false negative for row r (excluded); C = B
    #                        in one process, the step's rows under data parallelism (`shard`)
    swap_relations: Tensor | None = None  # (R',) long in [0, R): relations for the relation-negatives loss
    swap_exclude: Tensor | None = None  # (B, R') bool: True where relation j is not a negative for row b
    packed_text: PackedText | None = None  # the U titles then the R relation texts, packed (pack_texts)
    # True when the builder checked on the host that every index is in range and every text row ends with
    # EOS (train.batching, texts from `tokenize`): checking device tensors here, and the EOS positions in the
    # encoders, would make the host wait for the device several times every step
    checked_on_host: bool = False
    shard: BatchShard | None = None  # None: the whole step's batch is here (one process)

    def __post_init__(self) -> None:
        u, r, b = self.item_input_ids.shape[0], self.relation_input_ids.shape[0], self.src.shape[0]
        c = b
        if self.shard is not None:
            c = self.shard.step_rows
            if c != b * self.shard.world_size:
                raise ValueError(f"PairBatch.shard: {b} rows x {self.shard.world_size} ranks != {c} step rows")
            if tuple(self.shard.relation_intra.shape) != (r,) or self.shard.relation_intra.dtype != torch.bool:
                raise ValueError(f"PairBatch.shard.relation_intra: expected bool ({r},), got "
                                 f"{self.shard.relation_intra.dtype} {tuple(self.shard.relation_intra.shape)}")
        expect = {
            "item_attention_mask": (tuple(self.item_input_ids.shape), None),
            "relation_attention_mask": (tuple(self.relation_input_ids.shape), None),
            "dst": ((b,), torch.long),
            "src": ((b,), torch.long),
            "rel": ((b,), torch.long),
            "intra": ((b,), torch.bool),
            "negative_mask": ((b, c), torch.bool),
        }
        for name, (shape, dtype) in expect.items():
            value = getattr(self, name)
            if tuple(value.shape) != shape or (dtype is not None and value.dtype != dtype):
                raise ValueError(f"PairBatch.{name}: expected shape {shape} dtype {dtype}, got {tuple(value.shape)} "
                                 f"{value.dtype}")
        if self.pixel_values.dim() != 4 or self.pixel_values.shape[0] != u:
            raise ValueError(f"PairBatch.pixel_values: expected (U={u}, 3, S, S), got {tuple(self.pixel_values.shape)}")
        if not self.checked_on_host:
            _check_range("src", self.src, u)
            _check_range("dst", self.dst, u)
            _check_range("rel", self.rel, r)
        if (self.swap_relations is None) != (self.swap_exclude is None):
            raise ValueError("PairBatch.swap_relations and swap_exclude go together")
        if self.swap_relations is not None:
            if not self.checked_on_host:
                _check_range("swap_relations", self.swap_relations, r)
            shape = (b, self.swap_relations.shape[0])
            if tuple(self.swap_exclude.shape) != shape or self.swap_exclude.dtype != torch.bool:
                raise ValueError(f"PairBatch.swap_exclude: expected bool {shape}, got {tuple(self.swap_exclude.shape)}")
        if self.packed_text is not None and self.packed_text.num_texts != u + r:
            raise ValueError(f"PairBatch.packed_text: expected the {u} titles and {r} relation texts, "
                             f"got {self.packed_text.num_texts} texts")

    @property
    def num_rows(self) -> int:
        return int(self.src.shape[0])

    @property
    def num_items(self) -> int:
        return int(self.item_input_ids.shape[0])

    @property
    def num_relations(self) -> int:
        return int(self.relation_input_ids.shape[0])

    def to(self, device: torch.device | str) -> PairBatch:
        """A copy with every tensor on `device`."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        out = {k: v.to(device) if isinstance(v, (Tensor, PackedText)) else v for k, v in moved.items()}
        if self.shard is not None:
            out["shard"] = replace(self.shard, relation_intra=self.shard.relation_intra.to(device))
        return PairBatch(**out)


def _check_range(name: str, index: Tensor, size: int) -> None:
    if index.dtype != torch.long or index.dim() != 1:
        raise ValueError(f"PairBatch.{name}: expected a 1-d long tensor, got {index.dtype} {tuple(index.shape)}")
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= size):
        low, high = int(index.min()), int(index.max())
        raise ValueError(f"PairBatch.{name}: indices must be in [0, {size}), got [{low}, {high}]")
