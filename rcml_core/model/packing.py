"""Padding-free text batches: several texts share one row of the text tower (sequence packing).

A training step runs the text tower over the batch's item titles and its relation texts. Padded,
that is two calls (titles to the longest title, relations to the longest relation), and every
padding slot costs a full token of compute. Packed, every text of both groups is laid end to end
in rows of the longest text's length, and one call encodes them all:

    row 0: [t3 t3 t3 t3 t3 t3 t3 t3 | e1 e1 e1 e1 e1 e1 ... ]   each token attends causally,
    row 1: [t0 t0 t0 t0 t0 | t7 t7 t7 t7 t7 t7 t7 | pad pad ]   and only within its own text

The attention mask is block-diagonal and causal (a token sees the earlier tokens of its own text);
position ids restart at 0 for every text. The outputs equal the padded calls' up to float rounding
(tested): CLIP's text tower is causal, per-token outside attention, and pools at a position we
read back. `pack_texts` plans rows on the host (best-fit decreasing, when the batch is built);
`PackedText.attention_mask` builds the mask on the device, in the form the tower's attention
implementation reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

# transformers attention implementations that take a prepared 4-d mask as is: sdpa reads a bool
# mask (True = attend), eager adds a float mask to the scores. Others (flash_attention_2, flex)
# do not, and the model falls back to the padded calls there.
PACKING_IMPLEMENTATIONS: tuple[str, ...] = ("sdpa", "eager")


@dataclass
class PackedText:
    """S texts packed into P rows of length L.

    input_ids: (P, L) long; the texts' tokens, 0 in unused slots.
    position_ids: (P, L) long; position of each token within its own text.
    segment_ids: (P, L) long; the text (0..S-1) a slot holds; unused slots get distinct negative ids.
    starts: (S,) long; flat position (row * L + column) of each text's first token.
    lengths: (S,) long; tokens of each text.
    """

    input_ids: Tensor
    position_ids: Tensor
    segment_ids: Tensor
    starts: Tensor
    lengths: Tensor

    @property
    def num_texts(self) -> int:
        return int(self.starts.shape[0])

    @property
    def row_length(self) -> int:
        return int(self.input_ids.shape[1])

    def attention_mask(self, implementation: str, dtype: torch.dtype) -> Tensor:
        """The (P, 1, L, L) block-diagonal causal mask: bool for sdpa, additive `dtype` for eager.

        Unused slots attend to themselves only, so that no query row is fully masked.
        """
        if implementation not in PACKING_IMPLEMENTATIONS:
            raise ValueError(f"packed text needs one of {PACKING_IMPLEMENTATIONS} attention, got {implementation!r}")
        seg = self.segment_ids  # (P, L)
        length = seg.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=seg.device).tril()  # (L, L) key <= query
        allowed = ((seg[:, :, None] == seg[:, None, :]) & causal)[:, None]  # (P, 1, L, L)
        if implementation == "sdpa":
            return allowed
        return torch.zeros(allowed.shape, dtype=dtype, device=seg.device).masked_fill(~allowed, torch.finfo(dtype).min)

    def token_positions(self, first: int, count: int, width: int) -> Tensor:
        """Flat positions of texts first..first+count-1, (count, width): column t of text s is its t-th
        token; columns past a text's length repeat its first token (callers mask them)."""
        starts = self.starts[first : first + count, None]  # (count, 1)
        columns = torch.arange(width, device=starts.device)[None, :]  # (1, width)
        inside = columns < self.lengths[first : first + count, None]  # (count, width)
        return torch.where(inside, starts + columns, starts)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PackedText:
        return PackedText(**{f.name: getattr(self, f.name).to(device, non_blocking=non_blocking) for f in fields(self)})


def plan_rows(lengths: Sequence[int], row_length: int) -> tuple[list[int], list[int]]:
    """Best-fit decreasing: (row, column) of each text so that no row holds more than row_length tokens.

    Longest texts first, each into the row whose free space fits it most tightly (a new row when
    none does). Rows are kept in buckets by free space, so a text costs at most row_length lookups.
    """
    if any(n < 1 or n > row_length for n in lengths):
        raise ValueError(f"text lengths must be in [1, {row_length}], got {min(lengths)}..{max(lengths)}")
    by_free: list[list[int]] = [[] for _ in range(row_length + 1)]  # free space -> rows with it
    used: list[int] = []  # tokens placed in each row
    row_of, column_of = [0] * len(lengths), [0] * len(lengths)
    for i in sorted(range(len(lengths)), key=lambda k: -lengths[k]):
        n = lengths[i]
        row = next((by_free[f].pop() for f in range(n, row_length + 1) if by_free[f]), None)
        if row is None:
            row = len(used)
            used.append(0)
        row_of[i], column_of[i] = row, used[row]
        used[row] += n
        by_free[row_length - used[row]].append(row)
    return row_of, column_of


def pack_texts(input_ids: Sequence[Tensor], attention_masks: Sequence[Tensor]) -> PackedText:
    """Pack groups of right-padded texts (ids / masks (N_g, n_g), as `tokenize` makes them) into one
    PackedText; texts are numbered group after group (group 0's N_0 texts first). Host tensors."""
    if len(input_ids) != len(attention_masks) or not input_ids:
        raise ValueError("pack_texts needs one attention mask per group of input ids, and at least one group")
    lengths_per_group, tokens = [], []
    for g, (ids, mask) in enumerate(zip(input_ids, attention_masks)):
        if ids.shape != mask.shape or ids.dim() != 2:
            raise ValueError(f"pack_texts group {g}: ids {tuple(ids.shape)} and mask {tuple(mask.shape)} "
                             "must both be (N, n)")
        real = mask.bool()
        length = real.sum(dim=1)  # (N,)
        if not torch.equal(real, torch.arange(ids.shape[1])[None, :] < length[:, None]):
            raise ValueError(f"pack_texts group {g}: masks must be right-padded (ones, then zeros)")
        lengths_per_group.append(length)
        tokens.append(ids[real])  # text after text, in order
    lengths = torch.cat(lengths_per_group)  # (S,)
    row_length = int(lengths.max())
    rows, columns = plan_rows(lengths.tolist(), row_length)
    num_rows = max(rows) + 1
    starts = torch.tensor(rows, dtype=torch.long) * row_length + torch.tensor(columns, dtype=torch.long)  # (S,)
    text_of_token = torch.repeat_interleave(torch.arange(len(lengths)), lengths)  # (T,)
    first_token = torch.cumsum(lengths, 0) - lengths  # (S,) index of each text's first token in `tokens`
    position = torch.arange(len(text_of_token)) - first_token[text_of_token]  # (T,) within its text
    flat = starts[text_of_token] + position  # (T,) slot of each token
    size = num_rows * row_length
    packed_ids = torch.zeros(size, dtype=torch.long)
    packed_ids[flat] = torch.cat(tokens).long()
    positions = torch.zeros(size, dtype=torch.long)
    positions[flat] = position
    segments = -1 - torch.arange(size)  # unused slots: distinct negative ids
    segments[flat] = text_of_token
    shape = (num_rows, row_length)
    return PackedText(input_ids=packed_ids.view(shape), position_ids=positions.view(shape),
                      segment_ids=segments.view(shape), starts=starts, lengths=lengths.long())


def pack_when_smaller(input_ids: Sequence[Tensor], attention_masks: Sequence[Tensor]) -> PackedText | None:
    """pack_texts, or None when the packed rows would hold more slots than the padded groups together.

    Rows are as long as the longest text, so a batch of near-equal titles under a longer relation text
    can pack worse than it pads (one title per row); the padded calls are the cheaper choice then.
    """
    packed = pack_texts(input_ids, attention_masks)
    padded_slots = sum(ids.numel() for ids in input_ids)
    return packed if packed.input_ids.numel() <= padded_slots else None
