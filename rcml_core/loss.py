"""The RCML contrastive loss (paper eq. 1-2) and the plain CLIP loss, as pure functions.

    L = (L_ti + L_it) / 2 + lambda (L_tt + L_ii)                                     eq. 1
    L_xy(row r) = -log exp(s[r, r] / tau) / sum_{valid s} exp(s[r, s] / tau)         eq. 2

Row r of a batch is a relation pair (i, j, e); s[r, s] = cos(z_x^i(e), z_y^{dst_s}(e)) with the
positive on the diagonal. False negatives (candidates related to the anchor under any training
relation, the positive's item again, the anchor itself) leave the denominator. Each term is averaged
over its rows; tt / ii only over inter-sample rows (for an intra row they are trivially satisfied).
The temperature tau is fixed.

Data parallel, a rank holds rows offset .. offset + B - 1 of a step's C rows and scores them against all C
candidates (`RowShare`): it returns its rows' share of the step's loss, each term summed over its rows and
divided by the step's row counts, so that the ranks' shares add up to one process's loss on the step
(rcml_core.distributed adds them).

The loss is computed in fp32 whatever precision the similarities arrive in: at tau = 0.1 a bf16 cosine
(8 bits of mantissa) moves the logits in steps of up to 0.039, and CUDA autocast does not promote
logsumexp to fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rcml_core.config import check_flag, check_range
from rcml_core.model.outputs import PairSimilarities

DIRECTIONS: tuple[str, ...] = ("ti", "it", "tt", "ii")


@dataclass(frozen=True)
class LossConfig:
    tau: float = 0.1  # fixed temperature, (0, 10]
    lambda_intra: float = 0.5  # weight of the intra-modal terms tt + ii, [0, 100]
    relation_negatives: bool = False  # add same-pair, other-relation scores as negatives

    def __post_init__(self) -> None:
        check_range("loss.tau", self.tau, 0, 10, low_open=True)
        check_range("loss.lambda_intra", self.lambda_intra, 0, 100)
        check_flag("loss.relation_negatives", self.relation_negatives)


@dataclass(frozen=True)
class LossOutput:
    """The total loss and its named terms (scalar tensors; `total` carries the graph)."""

    total: Tensor
    ti: Tensor
    it: Tensor
    tt: Tensor
    ii: Tensor

    def to_dict(self) -> dict[str, float]:
        """Detached floats for logging: loss, loss_ti, loss_it, loss_tt, loss_ii."""
        out = {"loss": float(self.total.detach())}
        for name in DIRECTIONS:
            out[f"loss_{name}"] = float(getattr(self, name).detach())
        return out


@dataclass(frozen=True)
class RowShare:
    """A rank's rows in a data-parallel step: rows offset .. offset + B - 1 of `rows`, scored against all
    `rows` candidates (row r's positive is column offset + r)."""

    offset: int
    rows: int  # C, the step's rows: ti / it average over them
    inter_rows: int  # the step's inter-sample rows: tt / ii average over them

    def __post_init__(self) -> None:
        if self.offset < 0 or self.rows < 1 or not 0 <= self.inter_rows <= self.rows:
            raise ValueError(f"RowShare: offset {self.offset}, rows {self.rows}, inter_rows {self.inter_rows}")


def info_nce(logits: Tensor, valid: Tensor, offset: int = 0) -> Tensor:
    """Per-row InfoNCE, -log softmax at the positive over the valid columns.

    logits (..., B, C) with C >= offset + B: row b's positive is column offset + b (the diagonal when
    offset = 0); valid (..., B, C) bool, broadcastable: the columns counted in row b's denominator (the
    positive always counts, whatever valid says). Returns (..., B): logsumexp_{valid c} logits[b, c] minus
    the positive's logit.
    """
    b, c = logits.shape[-2:]
    if c < b + offset:
        raise ValueError(f"info_nce: logits must be (..., B, C >= offset + B), got {tuple(logits.shape)} "
                         f"with offset {offset}")
    positive = torch.arange(c, device=logits.device)[None, :] == torch.arange(offset, offset + b,
                                                                              device=logits.device)[:, None]  # (B, C)
    masked = logits.masked_fill(~(valid | positive), float("-inf"))  # (..., B, C)
    return torch.logsumexp(masked, dim=-1) - logits.diagonal(offset=offset, dim1=-2, dim2=-1)  # (..., B)


def rcml_loss(
    sims: PairSimilarities,
    negative_mask: Tensor,
    intra: Tensor,
    config: LossConfig,
    swap: PairSimilarities | None = None,
    swap_exclude: Tensor | None = None,
    share: RowShare | None = None,
) -> LossOutput:
    """Eq. 1 over a batch of B relation pairs (with `share`: this rank's part of a step's loss).

    sims: (B, C) cosines per direction, positive at column offset + r (RCMLModel.pair_similarities:
        C = B, the diagonal); any float dtype, promoted to fp32 here.
    negative_mask (B, C) bool: True where column s is a false negative for row r (excluded from the
        denominator); the positive always counts.
    intra (B,) bool: intra-sample rows; their tt / ii terms are skipped.
    swap, swap_exclude: with config.relation_negatives, (B, R') cosines of the same pair under other
        relations (RCMLModel.relation_swap_similarities) and a (B, R') bool mask, True where relation j
        is not a negative for row b (the row's own relation or another relation the pair carries).
        They join the denominator of inter rows only.
    share: the rows' place in a data-parallel step; None: the batch is the whole step (C = B, offset 0).
    """
    if config.relation_negatives != (swap is not None) or (swap is None) != (swap_exclude is None):
        raise ValueError("rcml_loss: pass swap and swap_exclude exactly when config.relation_negatives is set")
    b = intra.shape[0]
    inter = ~intra  # (B,)
    logits = torch.stack([getattr(sims, name).float() for name in DIRECTIONS]) / config.tau  # (4, B, C) fp32
    valid = ~negative_mask  # (B, C), shared by the four directions
    if swap is not None:
        swap_logits = torch.stack([getattr(swap, name).float() for name in DIRECTIONS]) / config.tau  # (4, B, R')
        logits = torch.cat([logits, swap_logits], dim=-1)  # (4, B, C + R')
        valid = torch.cat([valid, ~swap_exclude & inter[:, None]], dim=-1)  # intra rows get no swap negatives
    per_row = info_nce(logits, valid, offset=0 if share is None else share.offset)  # (4, B)
    # row weights: ti / it average over all rows, tt / ii over inter rows only (0 when there are none); the
    # step's counts when the rows are one rank's share of it
    rows = b if share is None else share.rows
    inter_rows = inter.sum().clamp_min(1) if share is None else max(share.inter_rows, 1)
    cross = torch.full((2, b), 1.0 / rows, dtype=per_row.dtype, device=per_row.device)  # (2, B)
    within = (inter / inter_rows).to(per_row.dtype).expand(2, b)  # (2, B)
    weights = torch.cat([cross, within])  # (4, B)
    ti, it, tt, ii = (torch.where(weights > 0, per_row, 0.0) * weights).sum(dim=-1)  # 4 scalars
    total = (ti + it) / 2 + config.lambda_intra * (tt + ii)
    return LossOutput(total=total, ti=ti, it=it, tt=tt, ii=ii)


def clip_loss(text_embeds: Tensor, image_embeds: Tensor, tau: float) -> Tensor:
    """Plain CLIP loss with fixed temperature: unit (N, d) text / image embeddings of N items.

    (InfoNCE(T I^T / tau) + InfoNCE(I T^T / tau)) / 2, every other item a negative; equals
    transformers' CLIPModel loss with logit_scale = log(1 / tau).
    """
    logits = text_embeds @ image_embeds.T / tau  # (N, N), matched pairs on the diagonal
    both = torch.stack([logits, logits.T])  # (2, N, N): text -> image, image -> text
    return info_nce(both, torch.ones_like(logits, dtype=torch.bool)).mean()
